-- The billing app's database on SQL Server 2022: a sample schema with data and Change
-- Data Capture enabled on the database and on each synced table. Idempotent: the
-- mssql-init job runs it on every `docker compose up`.
SET NOCOUNT ON;
GO
IF DB_ID(N'billing') IS NULL CREATE DATABASE billing;
GO
USE billing;
GO
IF NOT EXISTS (SELECT 1 FROM sys.databases WHERE name = N'billing' AND is_cdc_enabled = 1)
  EXEC sys.sp_cdc_enable_db;
GO
IF OBJECT_ID(N'dbo.clients', N'U') IS NULL
CREATE TABLE dbo.clients (
  id          BIGINT         NOT NULL CONSTRAINT pk_clients PRIMARY KEY,
  name        NVARCHAR(200)  NOT NULL,
  email       NVARCHAR(254)  NULL,
  phone       VARCHAR(40)    NULL,
  city        NVARCHAR(100)  NULL,
  balance     DECIMAL(12, 2) NOT NULL CONSTRAINT df_clients_balance DEFAULT 0,
  last_login  DATETIME2(3)   NULL,
  updated_at  DATETIME2(6)   NOT NULL CONSTRAINT df_clients_updated DEFAULT SYSUTCDATETIME()
);
GO
IF OBJECT_ID(N'dbo.invoices', N'U') IS NULL
CREATE TABLE dbo.invoices (
  id          BIGINT         NOT NULL CONSTRAINT pk_invoices PRIMARY KEY,
  client_id   BIGINT         NOT NULL,
  amount      DECIMAL(12, 2) NOT NULL,
  currency    CHAR(3)        NOT NULL CONSTRAINT df_invoices_currency DEFAULT 'CHF',
  issued_on   DATE           NOT NULL,
  status      VARCHAR(20)    NOT NULL,
  updated_at  DATETIME2(6)   NOT NULL CONSTRAINT df_invoices_updated DEFAULT SYSUTCDATETIME()
);
GO
IF NOT EXISTS (SELECT 1 FROM dbo.clients)
BEGIN
  WITH n AS (SELECT TOP (1000) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS i FROM sys.all_objects a CROSS JOIN sys.all_objects b)
  INSERT INTO dbo.clients (id, name, email, phone, city, balance)
  SELECT i,
         CONCAT(N'Client ', i),
         CONCAT(N'client', i, N'@example.com'),
         CONCAT('+41 44 ', RIGHT(CONCAT('000000', i), 6)),
         CHOOSE(1 + i % 5, N'Zürich', N'Genève', N'Bern', N'Lugano', N'Basel'),
         CAST(i * 3.25 AS DECIMAL(12, 2))
  FROM n;
  WITH n AS (SELECT TOP (5000) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS i FROM sys.all_objects a CROSS JOIN sys.all_objects b)
  INSERT INTO dbo.invoices (id, client_id, amount, issued_on, status)
  SELECT i, 1 + i % 1000, CAST(10 + (i * 7919) % 100000 / 100.0 AS DECIMAL(12, 2)),
         DATEADD(day, -(i % 365), CAST(SYSUTCDATETIME() AS DATE)),
         CHOOSE(1 + i % 3, 'open', 'paid', 'overdue')
  FROM n;
END
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'dbo.clients'))
  EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'clients', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'dbo.invoices'))
  EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = N'invoices', @role_name = NULL, @supports_net_changes = 0;
GO
PRINT 'billing: schema, data and CDC ready';
GO

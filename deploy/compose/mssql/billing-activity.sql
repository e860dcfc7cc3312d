-- A few billing changes per run (the billing-activity service runs it every 2 s):
-- balance and phone updates on random clients, a new invoice, an invoice paid.
SET NOCOUNT ON;
USE billing;
DECLARE @c BIGINT = 1 + ABS(CHECKSUM(NEWID())) % 1000;
UPDATE dbo.clients SET balance = balance + 1.25, updated_at = SYSUTCDATETIME() WHERE id = @c;
UPDATE dbo.clients SET phone = CONCAT('+41 44 ', RIGHT(CONCAT('000000', ABS(CHECKSUM(NEWID())) % 1000000), 6)), updated_at = SYSUTCDATETIME()
  WHERE id = 1 + ABS(CHECKSUM(NEWID())) % 1000;
DECLARE @next BIGINT = (SELECT ISNULL(MAX(id), 0) + 1 FROM dbo.invoices);
INSERT INTO dbo.invoices (id, client_id, amount, issued_on, status)
  VALUES (@next, @c, CAST(10 + ABS(CHECKSUM(NEWID())) % 100000 / 100.0 AS DECIMAL(12, 2)), CAST(SYSUTCDATETIME() AS DATE), 'open');
UPDATE dbo.invoices SET status = 'paid', updated_at = SYSUTCDATETIME()
  WHERE id = (SELECT TOP (1) id FROM dbo.invoices WHERE status = 'open' ORDER BY NEWID());

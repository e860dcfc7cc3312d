-- The invoice app's database on MySQL 8.4 (created by the image as MYSQL_DATABASE):
-- the clients table its users edit (email, phone, last login). fieldsync merges the
-- billing changes into it field by field; `fieldsync applier install` adds the clock
-- tables and the triggers that stamp the app's own edits so they are never overwritten
-- by older billing data. The invoices table is created by the applier from the schema.
USE invoice;
CREATE TABLE IF NOT EXISTS clients (
  id          BIGINT         NOT NULL PRIMARY KEY,
  name        VARCHAR(200)   NOT NULL,
  email       VARCHAR(254)   NULL,
  phone       VARCHAR(40)    NULL,
  city        VARCHAR(100)   NULL,
  balance     DECIMAL(12, 2) NOT NULL DEFAULT 0,
  last_login  DATETIME(3)    NULL,
  updated_at  DATETIME(6)    NOT NULL
) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;
-- fieldsync's own tables (offsets, clocks of system state) live in the `fieldsync` schema
CREATE DATABASE IF NOT EXISTS fieldsync CHARACTER SET utf8mb4;
GRANT ALL PRIVILEGES ON fieldsync.* TO 'fieldsync'@'%';

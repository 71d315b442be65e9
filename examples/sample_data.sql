-- Sample data for examples/alerts.yaml (SQLite). Dates are relative to the moment the file is
-- loaded, so the example alerts say the same thing whenever you build it:
--
--     python examples/build_sample_db.py        # writes examples/sample_data.db
--
-- daily_revenue_check fires (yesterday's paid revenue is 8,420.50, below 10,000); the other
-- enabled alerts are OK.

DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS api_requests;
DROP TABLE IF EXISTS pipeline_loads;

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    date        DATE NOT NULL,         -- the column SQL Sentinel's examples query
    customer    TEXT NOT NULL,
    amount      NUMERIC NOT NULL,
    status      TEXT NOT NULL          -- 'paid' or 'refunded'
);

INSERT INTO orders (date, customer, amount, status) VALUES
    (date('now', '-2 days'), 'acme',     5200.00, 'paid'),
    (date('now', '-2 days'), 'globex',   4100.00, 'paid'),
    (date('now', '-2 days'), 'initech',  3350.00, 'paid'),
    (date('now', '-2 days'), 'umbrella', 1800.00, 'paid'),
    (date('now', '-1 day'),  'acme',     2890.50, 'paid'),
    (date('now', '-1 day'),  'globex',   1975.00, 'paid'),
    (date('now', '-1 day'),  'initech',  1410.00, 'paid'),
    (date('now', '-1 day'),  'hooli',    1205.00, 'paid'),
    (date('now', '-1 day'),  'umbrella',  940.00, 'paid'),
    (date('now', '-1 day'),  'stark',     610.00, 'refunded'),
    (date('now'),            'acme',      730.00, 'paid');

CREATE TABLE api_requests (
    id           INTEGER PRIMARY KEY,
    requested_at TIMESTAMP NOT NULL,
    endpoint     TEXT NOT NULL,
    status_code  INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL
);

-- 240 requests spread over the last 56 minutes; every 60th one failed: a 1.67% error rate.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 240)
INSERT INTO api_requests (requested_at, endpoint, status_code, duration_ms)
SELECT datetime('now', printf('-%d seconds', i * 14)),
       CASE i % 3 WHEN 0 THEN '/orders' WHEN 1 THEN '/customers' ELSE '/health' END,
       CASE WHEN i % 60 = 0 THEN 503 ELSE 200 END,
       40 + (i * 37) % 160
FROM n;

CREATE TABLE pipeline_loads (
    id          INTEGER PRIMARY KEY,
    pipeline    TEXT NOT NULL,
    loaded_at   TIMESTAMP NOT NULL,
    rows_loaded INTEGER NOT NULL,
    succeeded   INTEGER NOT NULL       -- 1 or 0
);

INSERT INTO pipeline_loads (pipeline, loaded_at, rows_loaded, succeeded) VALUES
    ('orders_etl',   datetime('now', '-6 hours'),   10230, 1),
    ('orders_etl',   datetime('now', '-3 hours'),   10410, 1),
    ('orders_etl',   datetime('now', '-40 minutes'), 9875, 1),
    ('payments_etl', datetime('now', '-2 hours'),       0, 0),
    ('payments_etl', datetime('now', '-1 hour'),     4120, 1);

"""Connect to databases: one cached SQLAlchemy engine per URL."""

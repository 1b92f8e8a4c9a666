"""Alembic environment for OrderSync's own tables.

Run through ``core.db.migrate`` only: it passes the connection and the target schema in
``config.attributes``; there is no alembic.ini. Offline mode (SQL script) is used by the tests to
check the T-SQL that a SQL Server upgrade would run.
"""

from alembic import context

from core.db.schema import metadata

VERSION_TABLE = "MON_SchemaVersion"

config = context.config
schema = config.attributes.get("schema")

if context.is_offline_mode():
    context.configure(
        dialect_name=config.attributes["dialect_name"],
        target_metadata=metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
        version_table_schema=schema,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema=schema,
        transaction_per_migration=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()

"""Reading one model row with SQL written once, for the reads every signed-in request makes (its session,
its account). The ORM compiles a query anew each time it runs, which costs more than these reads do in
the database; here the statement and the column converters are worked out once per model, condition and
database, and the row becomes a model instance as the ORM would make it (``Model.from_db``, the
same converters, so dates come back timezone-aware on SQLite too)."""

import functools

from django.db import connections

PREPARED = "_registry_prepared"  # on a DatabaseWrapper: {statement name: the driver connection it was prepared on}


class RowReader:
    """``SELECT <every concrete column> FROM <table> WHERE <condition>`` for one model.

    ``condition`` names columns as ``{field}`` placeholders, each quoted for the database (``{pk}`` names
    the primary key), e.g. ``"{session_key} = %s AND {expire_date} > %s"``. Parameters must be adapted by
    the caller for a field the database driver does not take as is (see ``adapt``)."""

    def __init__(self, model, condition):
        self.model = model
        self.condition = condition

    def one(self, params, using="default"):
        """The model instance of the first row matching, or None."""
        connection = connections[using]
        sql, names, converters = self._plan(using)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = list(row)
            for index, column, functions in converters:
                value = row[index]
                for function in functions:
                    value = function(value, column, connection)
                row[index] = value
        return self.model.from_db(using, names, row)

    @functools.cache  # noqa: B019  (readers are module constants, never collected)
    def _plan(self, using):
        connection = connections[using]
        quote = connection.ops.quote_name
        fields = self.model._meta.concrete_fields
        table = quote(self.model._meta.db_table)
        columns = ", ".join(quote(field.column) for field in fields)
        names = {field.name: quote(field.column) for field in fields}
        condition = self.condition.format(pk=quote(self.model._meta.pk.column), **names)
        sql = f"SELECT {columns} FROM {table} WHERE {condition} LIMIT 1"
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(self.model._meta.db_table)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if functions:
                converters.append((index, column, functions))
        return sql, [field.attname for field in fields], converters


def adapt(model, name, value, using="default"):
    """``value`` of field ``name`` as the ORM would pass it to the database in a lookup."""
    return model._meta.get_field(name).get_db_prep_value(value, connections[using], prepared=False)


def execute_prepared(cursor, name, sql, params):
    """Run ``sql`` (``%s`` placeholders, no literal ``%``) on ``cursor`` as PostgreSQL's prepared statement
    ``name``: parsed and planned once per database connection, then only executed. For the statements every
    signed-in request runs, whose planning costs PostgreSQL more than their execution (the account's
    permissions: about 0.6 ms to plan, 0.1 ms to run). Elsewhere, or on another database, it runs as is.

    A statement lives as long as its database session, whatever becomes of the transaction that prepared
    it; it is prepared again on a new connection (Django reconnects after an error or CONN_MAX_AGE). So the
    registry must reach PostgreSQL directly or through a pool that keeps a session per client (not
    PgBouncer's transaction mode, where the next transaction may run on another session).
    """
    connection = cursor.db
    if connection.vendor != "postgresql":
        cursor.execute(sql, params)
        return
    prepared = connection.__dict__.setdefault(PREPARED, {})
    if prepared.get(name) is not connection.connection:
        numbered = sql.split("%s")
        text = numbered[0] + "".join(f"${index}{part}" for index, part in enumerate(numbered[1:], start=1))
        # Setting up the connection, as Django's own session settings are: on the driver's cursor, so it
        # is not counted among the request's queries (it runs once per connection, not per request).
        cursor.cursor.execute(f"PREPARE {name} AS {text}")
        prepared[name] = connection.connection
    placeholders = ", ".join(["%s"] * len(params))
    cursor.execute(f"EXECUTE {name} ({placeholders})" if params else f"EXECUTE {name}", params)

"""`field__any=[ids]`: membership in a list as one array parameter on PostgreSQL.

`field__in` prepares every value and sends one parameter per id; for the thousands of ids of
a chunk of patients that preparation costs more than the query. On other databases it is
`IN (...)` as usual.
"""

from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, [int(value) for value in self.rhs]]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [int(value) for value in self.rhs]
        if not values:
            return "1 = 0", lhs_params
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)

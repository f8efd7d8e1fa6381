"""`field__any=[ids]`: membership in a list as one array parameter on PostgreSQL.

`field__in` prepares every value and sends one parameter per id; for the thousands of ids of
a chunk of patients that preparation costs more than the query. On other databases it is
`IN (...)` as usual.

Django still resolves and type-checks each value of a list it is given, one call per id; for
the tens of thousands of visits of a cohort, pass the ids as ``Ids(ids)``, which it hands to the
lookup untouched.
"""

from django.db.models import Field, ForeignObject, Lookup


class Ids:
    """Ids for `__any`, read once into ints (no ``__iter__``, so Django's per-value checks skip them)."""

    __slots__ = ("values",)

    def __init__(self, ids):
        self.values = [int(value) for value in ids]

    def __len__(self):
        return len(self.values)


def _ints(rhs):
    return rhs.values if isinstance(rhs, Ids) else [int(value) for value in rhs]


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [_ints(value)]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        # One array literal ('{1,2,3}'), not the ARRAY[1, 2, 3] a list is sent as: PostgreSQL parses and
        # plans the expression of ten thousand constants in several times what the query then takes.
        array = "{" + ",".join(map(str, _ints(self.rhs))) + "}"
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, array]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = _ints(self.rhs)
        if not values:
            return "1 = 0", lhs_params
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)

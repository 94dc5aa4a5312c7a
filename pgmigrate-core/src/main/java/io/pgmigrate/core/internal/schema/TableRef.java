package io.pgmigrate.core.internal.schema;

import io.pgmigrate.core.internal.sql.Identifiers;

/**
 * A table by schema and name, unquoted.
 *
 * @param schema schema name
 * @param name   table name
 */
public record TableRef(String schema, String name) implements Comparable<TableRef> {

    /** {@code "schema"."name"}, quoted for SQL. */
    public String quoted() {
        return Identifiers.quote(schema, name);
    }

    @Override
    public int compareTo(TableRef o) {
        int c = schema.compareTo(o.schema);
        return c != 0 ? c : name.compareTo(o.name);
    }

    @Override
    public String toString() {
        return schema + "." + name;
    }
}

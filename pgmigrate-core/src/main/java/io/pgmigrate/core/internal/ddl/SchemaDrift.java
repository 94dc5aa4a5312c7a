package io.pgmigrate.core.internal.ddl;

import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Detects schema changes that were not carried (the migration role is no superuser, so no event trigger records
 * them): the tables and columns of the application's schemas, compared between the two sides. One digest per side
 * first, so that a check costs two small queries while nothing differs. Types outside {@code pg_catalog} are compared
 * by name only: an extension's types may live in another schema on the other side.
 */
public final class SchemaDrift {

    /** Each column of each table of the application's schemas, as {@code schema.table.column type}. */
    private static final String COLUMNS = """
            SELECT format('%I.%I', n.nspname, c.relname) || coalesce('.' || quote_ident(a.attname) || ' '
                   || CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN format_type(a.atttypid, a.atttypmod)
                           ELSE quote_ident(t.typname) END, ' (no columns)') AS item
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_type t ON t.oid = a.atttypid
            WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE 'pgmigrate\\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND d.deptype = 'e')
            """;

    private static final int SHOWN = 5;

    private SchemaDrift() {
    }

    /**
     * What differs between the tables of {@code a} and {@code b}, for a person ("public.orders.channel text only on
     * the source; ..."), or empty when nothing does.
     */
    public static String between(Connection a, String aName, Connection b, String bName) throws SQLException {
        String digest = "SELECT coalesce(md5(string_agg(item, E'\\n' ORDER BY item)), '') FROM (" + COLUMNS + ") i";
        String da = Queries.first(a, digest, rs -> rs.getString(1)).orElse("");
        String db = Queries.first(b, digest, rs -> rs.getString(1)).orElse("");
        if (da.equals(db)) {
            return "";
        }
        Set<String> left = new LinkedHashSet<>(Queries.list(a, COLUMNS + " ORDER BY 1", rs -> rs.getString(1)));
        Set<String> right = new LinkedHashSet<>(Queries.list(b, COLUMNS + " ORDER BY 1", rs -> rs.getString(1)));
        List<String> out = new ArrayList<>();
        left.stream().filter(i -> !right.contains(i)).forEach(i -> out.add(i + " only on the " + aName));
        right.stream().filter(i -> !left.contains(i)).forEach(i -> out.add(i + " only on the " + bName));
        if (out.isEmpty()) {
            return "";
        }
        return String.join("; ", out.subList(0, Math.min(SHOWN, out.size())))
                + (out.size() > SHOWN ? "; and " + (out.size() - SHOWN) + " more" : "");
    }
}

package io.pgmigrate.core.internal.preflight;

import io.pgmigrate.LeftBehind;
import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds data on one side that logical replication does not carry ({@link LeftBehind}): what a cutover away from that
 * side would leave there. Only data counts: an empty unlogged table or an extension's own default rows lose nothing.
 */
public final class LeftBehindCheck {

    private static final String USER_TABLE = """
            c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
              AND n.nspname NOT LIKE 'pgmigrate\\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND d.deptype = 'e')
            """;

    private LeftBehindCheck() {
    }

    /**
     * What holds data, by kind, among the kinds asked for: table names ({@code schema.table}, quoted where needed),
     * for large objects their count.
     */
    public static Map<LeftBehind, List<String>> find(Connection c, Set<LeftBehind> kinds) throws SQLException {
        Map<LeftBehind, List<String>> found = new EnumMap<>(LeftBehind.class);
        if (kinds.contains(LeftBehind.UNLOGGED_TABLES)) {
            add(found, LeftBehind.UNLOGGED_TABLES, withRows(c, Queries.list(c, """
                    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), '' FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relpersistence = 'u' AND\s""" + USER_TABLE + " ORDER BY 1",
                    rs -> new String[]{rs.getString(1), rs.getString(2)})));
        }
        if (kinds.contains(LeftBehind.INHERITED_TABLES)) {
            // Parents are read with ONLY: each table of the hierarchy is named for its own rows.
            add(found, LeftBehind.INHERITED_TABLES, withRows(c, Queries.list(c, """
                    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), '' FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relpersistence = 'p' AND NOT c.relispartition
                      AND EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid OR h.inhparent = c.oid)
                      AND\s""" + USER_TABLE + " ORDER BY 1", rs -> new String[]{rs.getString(1), rs.getString(2)})));
        }
        if (kinds.contains(LeftBehind.EXTENSION_CONFIGURATION)) {
            // The extension's own filter (pg_extension_config_dump's second argument) tells user rows from the ones
            // its script inserted, as pg_dump applies it; it is catalog text written by the extension's script.
            add(found, LeftBehind.EXTENSION_CONFIGURATION, withRows(c, Queries.list(c, """
                    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), coalesce(x.cond, '')
                    FROM pg_extension e CROSS JOIN LATERAL unnest(e.extconfig, e.extcondition) AS x(rel, cond)
                    JOIN pg_class c ON c.oid = x.rel JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind = 'r'
                    ORDER BY 1
                    """, rs -> new String[]{rs.getString(1), rs.getString(2)})));
        }
        if (kinds.contains(LeftBehind.LARGE_OBJECTS)) {
            long n = Long.parseLong(Queries.string(c, "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata"));
            if (n > 0) {
                found.put(LeftBehind.LARGE_OBJECTS, List.of(n + " large object" + (n == 1 ? "" : "s")));
            }
        }
        return found;
    }

    /** One sentence per kind found: what stays behind and how to move it instead. */
    public static String describe(Map<LeftBehind, List<String>> found) {
        List<String> parts = new ArrayList<>();
        found.forEach((kind, what) -> parts.add(switch (kind) {
            case UNLOGGED_TABLES -> "unlogged tables " + what + " hold rows (make them LOGGED with ALTER TABLE ..."
                    + " SET LOGGED, then ALTER PUBLICATION ... ADD TABLE and ALTER SUBSCRIPTION ... REFRESH"
                    + " PUBLICATION)";
            case INHERITED_TABLES -> "tables of an inheritance hierarchy " + what + " hold rows (convert them to"
                    + " declarative partitioning, or move them yourself)";
            case LARGE_OBJECTS -> what.get(0) + " exist (move them with pg_dump --large-objects after the cutover,"
                    + " or store them in bytea columns); the fence does not stop large-object writes";
            case EXTENSION_CONFIGURATION -> "extension configuration tables " + what + " hold user rows (copy them"
                    + " with pg_dump --data-only --table)";
        }));
        return String.join("; ", parts);
    }

    private static void add(Map<LeftBehind, List<String>> found, LeftBehind kind, List<String> tables) {
        if (!tables.isEmpty()) {
            found.put(kind, tables);
        }
    }

    /**
     * The tables that hold rows. Each is read in a transaction of its own with row security off, so a policy cannot
     * hide rows from a role that is not a superuser (where one would, the read fails instead), and with only
     * {@code pg_catalog} on the search path while an extension's filter runs, as pg_dump runs it. A table that cannot
     * be read counts as holding rows, named with why.
     */
    private static List<String> withRows(Connection c, List<String[]> tables) throws SQLException {
        List<String> full = new ArrayList<>();
        for (String[] t : tables) {
            String filter = t[1].isBlank() ? "" : " " + t[1];
            boolean[] rows = {false};
            try {
                Queries.inTransaction(c, () -> {
                    Queries.execute(c, "SET LOCAL row_security = off");
                    Queries.execute(c, "SET LOCAL search_path = pg_catalog");
                    // A plain statement: a filter may contain '?', which a prepared statement takes as a parameter.
                    try (Statement st = c.createStatement();
                         ResultSet rs = st.executeQuery("SELECT 1 FROM ONLY " + t[0] + filter + " LIMIT 1")) {
                        rows[0] = rs.next();
                    }
                });
            } catch (SQLException e) {
                full.add(t[0] + " (cannot be read: " + e.getMessage() + ")");
                continue;
            }
            if (rows[0]) {
                full.add(t[0]);
            }
        }
        return full;
    }
}

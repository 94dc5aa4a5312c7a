package io.pgmigrate.core.internal.cutover;

import io.pgmigrate.core.internal.sql.Queries;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * Copies the optimizer statistics of one database's tables and indexes to a PostgreSQL 18 or later side, with the
 * functions PostgreSQL 18 added for that ({@code pg_restore_relation_stats}, {@code pg_restore_attribute_stats}): the
 * new side plans its first queries as the old one did, without an {@code ANALYZE} of every table under the first
 * traffic. Extended statistics ({@code CREATE STATISTICS}) have no such function before PostgreSQL 19 and are not
 * copied. The values travel as text and are cast to the types the functions expect; every value is bound.
 *
 * <p>Statistics are hints, not data: a table the new side cannot take them for (privileges, a column missing) is
 * logged and skipped, and nothing else depends on them.
 */
final class StatisticsCopy {

    private static final Logger LOG = LoggerFactory.getLogger(StatisticsCopy.class);

    /** Settings under which arrays of any type print on the old side as the new side reads them. */
    private static final List<String> PRINT = List.of("SET extra_float_digits = 3", "SET DateStyle = 'ISO, YMD'",
            "SET IntervalStyle = 'postgres'", "SET search_path = ''");

    private StatisticsCopy() {
    }

    /** Counts of what was copied. */
    record Copied(int relations, int columns, int refused) {
    }

    /** Whether the server {@code c} is connected to can take statistics. */
    static boolean supported(Connection c) throws SQLException {
        return Integer.parseInt(Queries.string(c, "SHOW server_version_num")) >= 180000;
    }

    /**
     * Copies the statistics of every table, partitioned table, materialized view and index that both sides have in
     * the schemas the application owns (not {@code pg_catalog}, {@code information_schema}, {@code pg_toast}, nor
     * pgmigrate's own), from {@code from} to {@code to}.
     */
    static Copied copy(Connection from, Connection to) throws SQLException {
        int version = Integer.parseInt(Queries.string(from, "SHOW server_version_num"));
        for (String setting : PRINT) {
            Queries.execute(from, setting);
            Queries.execute(to, setting);
        }
        int relations = 0;
        int columns = 0;
        int refused = 0;
        // relation-level: pages, tuples, all-visible pages (relallfrozen is 18's, absent from older sources)
        List<String[]> rels = Queries.list(from, """
                SELECT n.nspname, c.relname, c.relpages::text, c.reltuples::text, c.relallvisible::text
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p', 'm', 'i') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                  AND n.nspname NOT LIKE 'pgmigrate\\_%\\_ddl'
                ORDER BY 1, 2
                """, rs -> new String[] {rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
                rs.getString(5)});
        // what the new side has, read once: a relation or column it lacks is skipped (pgmigrate does not carry it)
        java.util.Set<String> relationsThere = new java.util.HashSet<>(Queries.list(to, """
                SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p', 'm', 'i')
                """, rs -> rs.getString(1)));
        java.util.Set<List<String>> columnsThere = new java.util.HashSet<>(Queries.list(to, """
                SELECT n.nspname, c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
                """, rs -> List.of(rs.getString(1), rs.getString(2), rs.getString(3))));
        try (PreparedStatement rel = to.prepareStatement("SELECT pg_catalog.pg_restore_relation_stats("
                     + "'version', ?::integer, 'schemaname', ?::text, 'relname', ?::text, 'relpages', ?::integer,"
                     + " 'reltuples', ?::real, 'relallvisible', ?::integer)")) {
            for (String[] r : rels) {
                if (!relationsThere.contains(r[0] + "." + r[1])) {
                    continue; // not on the new side (a table pgmigrate does not carry)
                }
                // before 14, 0 tuples meant "never analyzed" as -1 does since
                String tuples = version < 140000 && "0".equals(r[3]) ? "-1" : r[3];
                if (restore(rel, r[0] + "." + r[1], version, r[0], r[1], r[2], tuples, r[4])) {
                    relations++;
                } else {
                    refused++;
                }
            }
        }
        boolean ranges = version >= 170000;
        String query = """
                SELECT s.schemaname::text, s.tablename::text, s.attname::text, s.inherited::text, s.null_frac::text,
                       s.avg_width::text, s.n_distinct::text, s.most_common_vals::text, s.most_common_freqs::text,
                       s.histogram_bounds::text, s.correlation::text, s.most_common_elems::text,
                       s.most_common_elem_freqs::text, s.elem_count_histogram::text, %s
                FROM pg_catalog.pg_stats s
                JOIN pg_class c ON c.relname = s.tablename
                JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
                WHERE c.relkind IN ('r', 'p', 'm') AND s.schemaname NOT IN ('pg_catalog', 'information_schema')
                  AND s.schemaname NOT LIKE 'pg\\_toast%%' AND s.schemaname NOT LIKE 'pgmigrate\\_%%\\_ddl'
                ORDER BY 1, 2, 3, 4
                """.formatted(ranges ? "s.range_length_histogram::text, s.range_empty_frac::text,"
                + " s.range_bounds_histogram::text" : "NULL::text, NULL::text, NULL::text");
        String restore = "SELECT pg_catalog.pg_restore_attribute_stats('version', ?::integer, 'schemaname', ?::text,"
                + " 'relname', ?::text, 'attname', ?::text, 'inherited', ?::boolean, 'null_frac', ?::real,"
                + " 'avg_width', ?::integer, 'n_distinct', ?::real, 'most_common_vals', ?::text,"
                + " 'most_common_freqs', ?::real[], 'histogram_bounds', ?::text, 'correlation', ?::real,"
                + " 'most_common_elems', ?::text, 'most_common_elem_freqs', ?::real[],"
                + " 'elem_count_histogram', ?::real[], 'range_length_histogram', ?::text,"
                + " 'range_empty_frac', ?::real, 'range_bounds_histogram', ?::text)";
        from.setAutoCommit(false); // a cursor: pg_stats of a large schema is read a batch at a time
        try (PreparedStatement read = from.prepareStatement(query); PreparedStatement att = to.prepareStatement(restore)) {
            read.setFetchSize(500);
            try (ResultSet rs = read.executeQuery()) {
                while (rs.next()) {
                    Object[] values = new Object[18];
                    values[0] = version;
                    for (int i = 1; i <= 17; i++) {
                        values[i] = rs.getString(i);
                    }
                    String what = rs.getString(1) + "." + rs.getString(2) + "." + rs.getString(3);
                    if (!columnsThere.contains(List.of(rs.getString(1), rs.getString(2), rs.getString(3)))) {
                        continue;
                    }
                    if (restore(att, what, values)) {
                        columns++;
                    } else {
                        refused++;
                    }
                }
            }
            from.commit();
        } finally {
            from.setAutoCommit(true);
        }
        return new Copied(relations, columns, refused);
    }

    /**
     * Runs one restore call with {@code values} bound in order; false when the new side refused it (an error, or a
     * warning that made the function return false), which is logged.
     */
    private static boolean restore(PreparedStatement call, String what, Object... values) throws SQLException {
        for (int i = 0; i < values.length; i++) {
            if (values[i] instanceof Integer n) {
                call.setInt(i + 1, n);
            } else {
                call.setString(i + 1, (String) values[i]);
            }
        }
        Connection c = call.getConnection();
        boolean autoCommit = c.getAutoCommit();
        try (Statement savepoint = c.createStatement()) {
            if (!autoCommit) {
                savepoint.execute("SAVEPOINT statistics");
            }
            try (ResultSet rs = call.executeQuery()) {
                rs.next();
                boolean ok = rs.getBoolean(1);
                if (!ok) {
                    List<String> warnings = new ArrayList<>();
                    for (var w = call.getWarnings(); w != null; w = w.getNextWarning()) {
                        warnings.add(w.getMessage());
                    }
                    LOG.warn("the statistics of {} were taken in part: {}", what, warnings);
                }
                return ok;
            } catch (SQLException e) {
                if (!autoCommit) {
                    savepoint.execute("ROLLBACK TO SAVEPOINT statistics");
                }
                LOG.warn("the statistics of {} were not taken: {}", what, e.getMessage());
                return false;
            }
        }
    }
}

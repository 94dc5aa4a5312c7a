package io.pgmigrate.core.internal.verify;

import io.pgmigrate.KeyRange;
import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * Splits a table into ranges of its key for verification: the primary key, or else the replica identity's index
 * (unique, its columns not null). The boundaries are read on one side by walking the key's index, about
 * {@code rows} index entries per boundary ({@code ... WHERE key > last ORDER BY key OFFSET rows - 1 LIMIT 1}): no
 * sort of the table, memory for one boundary at a time. The first range is open below and the last open above, so
 * rows only the other side has fall into some range whatever their key.
 *
 * <p>Boundaries travel as text and are cast back to the key's types, so the session must print and read values the
 * same way on both sides ({@link RangeDigest#PINNED}).
 */
public final class KeyRanges {

    private KeyRanges() {
    }

    /** A key column: its name and its type as {@code format_type} prints it. */
    public record KeyColumn(String name, String type) {
    }

    /** The condition on {@code key} that selects {@code range}, its bounds as parameters ({@link #parameters}). */
    public static String condition(List<KeyColumn> key, KeyRange range) {
        List<String> parts = new ArrayList<>();
        if (range.after() != null) {
            parts.add(tuple(key) + " > " + bound(key));
        }
        if (range.upTo() != null) {
            parts.add(tuple(key) + " <= " + bound(key));
        }
        return parts.isEmpty() ? "true" : String.join(" AND ", parts);
    }

    /** The values of {@code range}'s bounds, lower first, in the order {@link #condition} binds them. */
    public static List<String> parameters(KeyRange range) {
        List<String> p = new ArrayList<>();
        if (range.after() != null) {
            p.addAll(range.after());
        }
        if (range.upTo() != null) {
            p.addAll(range.upTo());
        }
        return p;
    }

    /** The key {@code table} is verified by, in index order; empty when it has none (no primary key or identity). */
    public static List<KeyColumn> key(Connection c, TableRef table) throws SQLException {
        return Queries.list(c, """
                SELECT a.attname, format_type(a.atttypid, a.atttypmod)
                FROM pg_index i
                JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
                CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                WHERE n.nspname = ? AND t.relname = ? AND k.ord <= i.indnkeyatts
                  AND i.indexrelid = (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = t.oid
                                        AND (x.indisprimary OR x.indisreplident) AND x.indexprs IS NULL
                                        AND x.indpred IS NULL
                                      ORDER BY x.indisprimary DESC LIMIT 1)
                ORDER BY k.ord
                """, rs -> new KeyColumn(rs.getString(1), rs.getString(2)), table.schema(), table.name());
    }

    /**
     * The ranges of about {@code rows} rows each that cover {@code table}'s key, read on {@code c}; null when
     * {@code deadline} ({@link System#nanoTime()}) passed before they were all read.
     */
    public static List<KeyRange> plan(Connection c, TableShape table, long rows, long deadline) throws SQLException {
        List<KeyRange> ranges = new ArrayList<>();
        return plan(c, table, rows, deadline, ranges::add) ? ranges : null;
    }

    /**
     * Hands {@code each} the ranges of about {@code rows} rows each that cover {@code table}'s key, in key order, as
     * they are read on {@code c}, so their comparison can start before the last is known.
     *
     * @return false when {@code deadline} ({@link System#nanoTime()}) passed before they were all read
     */
    public static boolean plan(Connection c, TableShape table, long rows, long deadline,
                               java.util.function.Consumer<KeyRange> each) throws SQLException {
        List<KeyColumn> key = table.key();
        if (key.isEmpty()) {
            each.accept(KeyRange.all());
            return true;
        }
        // aliased: an output column named like a key column would make ORDER BY sort by its text
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < key.size(); i++) {
            texts.add(quote(key.get(i).name()) + "::text AS bound_" + i);
        }
        String columns = String.join(", ", texts);
        String order = key.stream().map(k -> quote(k.name())).collect(Collectors.joining(", "));
        // the walk reads the index alone (an index-only scan, which enable_indexscan also governs)
        Queries.execute(c, "SET enable_indexscan = on");
        try {
            List<String> last = null;
            while (true) {
                if (System.nanoTime() > deadline) {
                    return false;
                }
                KeyRange after = new KeyRange(last, null);
                String sql = "SELECT " + columns + " FROM " + table.from() + " WHERE " + condition(key, after)
                        + " ORDER BY " + order + " OFFSET " + (rows - 1) + " LIMIT 1";
                List<List<String>> next = Queries.list(c, sql, rs -> {
                    List<String> values = new ArrayList<>();
                    for (int i = 1; i <= key.size(); i++) {
                        values.add(rs.getString(i));
                    }
                    return values;
                }, parameters(after).toArray());
                if (next.isEmpty()) {
                    each.accept(new KeyRange(last, null));
                    return true;
                }
                each.accept(new KeyRange(last, next.get(0)));
                last = next.get(0);
            }
        } finally {
            try {
                Queries.execute(c, "SET enable_indexscan = off");
            } catch (SQLException e) {
                // the session is broken (and closed by the caller): the walk's own failure is the one to report
            }
        }
    }

    private static String tuple(List<KeyColumn> key) {
        return "(" + key.stream().map(k -> quote(k.name())).collect(Collectors.joining(", ")) + ")";
    }

    private static String bound(List<KeyColumn> key) {
        return "(" + key.stream().map(k -> "?::" + k.type()).collect(Collectors.joining(", ")) + ")";
    }
}

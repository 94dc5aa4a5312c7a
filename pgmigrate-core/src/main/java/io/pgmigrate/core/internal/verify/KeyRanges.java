package io.pgmigrate.core.internal.verify;

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

    /**
     * One range of the key: rows with a key after {@code after} (exclusive) up to {@code upTo} (inclusive); null for
     * an open end. Each bound holds one text value per key column.
     */
    public record Range(List<String> after, List<String> upTo) {

        /** The range's condition on {@code key}, its bounds as parameters in the order of {@link #parameters}. */
        public String condition(List<KeyColumn> key) {
            List<String> parts = new ArrayList<>();
            if (after != null) {
                parts.add(tuple(key) + " > " + bound(key));
            }
            if (upTo != null) {
                parts.add(tuple(key) + " <= " + bound(key));
            }
            return parts.isEmpty() ? "true" : String.join(" AND ", parts);
        }

        /** The bounds' values, lower first. */
        public List<String> parameters() {
            List<String> p = new ArrayList<>();
            if (after != null) {
                p.addAll(after);
            }
            if (upTo != null) {
                p.addAll(upTo);
            }
            return p;
        }

        /** The whole key space. */
        public static Range all() {
            return new Range(null, null);
        }

        @Override
        public String toString() {
            return "(" + (after == null ? "-inf" : String.join(", ", after)) + ", "
                    + (upTo == null ? "+inf" : String.join(", ", upTo)) + "]";
        }
    }

    /** The key {@code table} is verified by, in index order; empty when it has none (no primary key or identity). */
    public static List<KeyColumn> key(Connection c, TableRef table) throws SQLException {
        return Queries.list(c, """
                SELECT a.attname, format_type(a.atttypid, a.atttypmod)
                FROM pg_index i
                JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
                CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                WHERE n.nspname = ? AND t.relname = ?
                  AND i.indexrelid = (SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = t.oid
                                        AND (x.indisprimary OR x.indisreplident) AND x.indexprs IS NULL
                                        AND x.indpred IS NULL
                                      ORDER BY x.indisprimary DESC LIMIT 1)
                ORDER BY k.ord
                """, rs -> new KeyColumn(rs.getString(1), rs.getString(2)), table.schema(), table.name());
    }

    /** The ranges of about {@code rows} rows each that cover {@code table}'s key, read on {@code c}. */
    public static List<Range> plan(Connection c, TableRef table, List<KeyColumn> key, long rows) throws SQLException {
        if (key.isEmpty()) {
            return List.of(Range.all());
        }
        // aliased: an output column named like a key column would make ORDER BY sort by its text
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < key.size(); i++) {
            texts.add(quote(key.get(i).name()) + "::text AS bound_" + i);
        }
        String columns = String.join(", ", texts);
        String order = key.stream().map(k -> quote(k.name())).collect(Collectors.joining(", "));
        List<Range> ranges = new ArrayList<>();
        List<String> last = null;
        while (true) {
            Range after = new Range(last, null);
            String sql = "SELECT " + columns + " FROM " + table.quoted() + " WHERE " + after.condition(key)
                    + " ORDER BY " + order + " OFFSET " + (rows - 1) + " LIMIT 1";
            List<List<String>> next = Queries.list(c, sql, rs -> {
                List<String> values = new ArrayList<>();
                for (int i = 1; i <= key.size(); i++) {
                    values.add(rs.getString(i));
                }
                return values;
            }, after.parameters().toArray());
            if (next.isEmpty()) {
                ranges.add(new Range(last, null));
                return ranges;
            }
            ranges.add(new Range(last, next.get(0)));
            last = next.get(0);
        }
    }

    private static String tuple(List<KeyColumn> key) {
        return "(" + key.stream().map(k -> quote(k.name())).collect(Collectors.joining(", ")) + ")";
    }

    private static String bound(List<KeyColumn> key) {
        return "(" + key.stream().map(k -> "?::" + k.type()).collect(Collectors.joining(", ")) + ")";
    }
}

package io.pgmigrate;

import java.time.Duration;
import java.util.List;

/**
 * The comparison of one table on both sides.
 *
 * @param database        the database
 * @param schema          schema name
 * @param table           table name
 * @param sourceRows      rows on the source
 * @param targetRows      rows on the target
 * @param sourceHash      digest of the source's rows (independent of their order)
 * @param targetHash      digest of the target's rows
 * @param ranges          how many ranges of its key the table was compared in (1 for a table without a key)
 * @param differingRanges the ranges of the key whose rows differ, compared again at one position of both sides;
 *                        empty when the table matches
 * @param elapsed         how long comparing the table took
 * @since 0.1.0
 */
public record TableVerification(String database, String schema, String table, long sourceRows, long targetRows,
                                String sourceHash, String targetHash, int ranges, List<KeyRange> differingRanges,
                                Duration elapsed) {

    /**
     * Makes an unmodifiable copy of {@code differingRanges}.
     *
     * @param database        the database
     * @param schema          schema name
     * @param table           table name
     * @param sourceRows      rows on the source
     * @param targetRows      rows on the target
     * @param sourceHash      digest of the source's rows
     * @param targetHash      digest of the target's rows
     * @param ranges          how many ranges of its key the table was compared in
     * @param differingRanges the ranges of the key whose rows differ
     * @param elapsed         how long comparing the table took
     */
    public TableVerification {
        differingRanges = List.copyOf(differingRanges);
    }

    /**
     * A comparison of the whole table in one range.
     *
     * @param database   the database
     * @param schema     schema name
     * @param table      table name
     * @param sourceRows rows on the source
     * @param targetRows rows on the target
     * @param sourceHash digest of the source's rows
     * @param targetHash digest of the target's rows
     */
    public TableVerification(String database, String schema, String table, long sourceRows, long targetRows,
                             String sourceHash, String targetHash) {
        this(database, schema, table, sourceRows, targetRows, sourceHash, targetHash, 1,
                sourceRows == targetRows && sourceHash.equals(targetHash) ? List.of() : List.of(KeyRange.all()),
                Duration.ZERO);
    }

    /**
     * The table's name as SQL writes it, each part quoted where it needs to be.
     *
     * @return e.g. {@code public.orders} or {@code "Sales"."Order Lines"}
     */
    public String qualifiedName() {
        return quote(schema) + "." + quote(table);
    }

    private static String quote(String name) {
        return name.matches("[a-z_][a-z0-9_$]*") ? name : '"' + name.replace("\"", "\"\"") + '"';
    }

    /**
     * Whether the table is the same on both sides.
     *
     * @return true when the row counts and the digests are equal, and no range differs
     */
    public boolean matches() {
        return sourceRows == targetRows && sourceHash.equals(targetHash) && differingRanges.isEmpty();
    }
}

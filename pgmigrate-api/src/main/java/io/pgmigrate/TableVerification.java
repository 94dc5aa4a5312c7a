package io.pgmigrate;

/**
 * The comparison of one table on both sides.
 *
 * @param database   the database
 * @param schema     schema name
 * @param table      table name
 * @param sourceRows rows on the source
 * @param targetRows rows on the target
 * @param sourceHash digest of the source's rows in key order
 * @param targetHash digest of the target's rows in key order
 * @since 0.1.0
 */
public record TableVerification(String database, String schema, String table, long sourceRows, long targetRows,
                                String sourceHash, String targetHash) {

    /**
     * Whether the table is the same on both sides.
     *
     * @return true when the row counts and the digests are equal
     */
    public boolean matches() {
        return sourceRows == targetRows && sourceHash.equals(targetHash);
    }
}

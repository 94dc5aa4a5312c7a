package io.pgmigrate;

/**
 * Copy progress of one table.
 *
 * @param schema        schema name, unquoted
 * @param table         table name, unquoted
 * @param state         where its initial copy stands
 * @param estimatedRows the source's row estimate from its statistics ({@code -1} when never analyzed)
 * @param rowsCopied    rows copied so far while {@code state} is {@link CopyState#COPYING}; otherwise 0
 * @param bytesCopied   bytes copied so far while {@code state} is {@link CopyState#COPYING}; otherwise 0
 * @since 0.1.0
 */
public record TableStatus(String schema, String table, CopyState state, long estimatedRows, long rowsCopied,
                          long bytesCopied) {

    /**
     * The table's name as {@code schema.table}, each part quoted when it needs quotes.
     *
     * @return the qualified name, such as {@code public."Order"}
     */
    public String qualifiedName() {
        return Names.displayName(schema) + "." + Names.displayName(table);
    }
}

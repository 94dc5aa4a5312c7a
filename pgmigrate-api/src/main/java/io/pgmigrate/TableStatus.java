package io.pgmigrate;

import java.time.Duration;
import java.util.Optional;

/**
 * Copy progress of one table.
 *
 * @param schema         schema name, unquoted
 * @param table          table name, unquoted
 * @param state          where its initial copy stands
 * @param estimatedRows  the source's row estimate from its statistics ({@code -1} when never analyzed)
 * @param rowsCopied     rows copied so far while {@code state} is {@link CopyState#COPYING}, and in all once copied
 *                       by pgmigrate; otherwise 0
 * @param bytesCopied    bytes copied so far, as {@code rowsCopied}
 * @param estimatedBytes the table's size on the source, {@code -1} when not known; the copy's bytes (COPY's format)
 *                       come close to it but are not the same measure
 * @param bytesPerSecond how fast the table is being copied now, 0 when it is not
 * @since 0.1.0
 */
public record TableStatus(String schema, String table, CopyState state, long estimatedRows, long rowsCopied,
                          long bytesCopied, long estimatedBytes, double bytesPerSecond) {

    /**
     * A status without size and rate, as PostgreSQL's own table synchronisation reports it.
     *
     * @param schema        schema name, unquoted
     * @param table         table name, unquoted
     * @param state         where its initial copy stands
     * @param estimatedRows the source's row estimate ({@code -1} when never analyzed)
     * @param rowsCopied    rows copied so far
     * @param bytesCopied   bytes copied so far
     */
    public TableStatus(String schema, String table, CopyState state, long estimatedRows, long rowsCopied,
                       long bytesCopied) {
        this(schema, table, state, estimatedRows, rowsCopied, bytesCopied, -1, 0);
    }

    /**
     * The table's name as {@code schema.table}, each part quoted when it needs quotes.
     *
     * @return the qualified name, such as {@code public."Order"}
     */
    public String qualifiedName() {
        return Names.displayName(schema) + "." + Names.displayName(table);
    }

    /**
     * How much longer the table's copy should take at the current rate.
     *
     * @return the estimate, empty when the table is not being copied, or its size or rate is not known
     * @since 0.2.0
     */
    public Optional<Duration> eta() {
        if (state != CopyState.COPYING || bytesPerSecond <= 0 || estimatedBytes < 0) {
            return Optional.empty();
        }
        long left = Math.max(0, estimatedBytes - bytesCopied);
        return Optional.of(Duration.ofMillis((long) (left * 1000.0 / bytesPerSecond)));
    }

    /**
     * How far the table's copy is, from 0 to 1.
     *
     * @return the fraction of its estimated size copied, 1 once copied, empty when its size is not known
     * @since 0.2.0
     */
    public Optional<Double> fractionCopied() {
        if (state == CopyState.READY || state == CopyState.CATCHING_UP) {
            return Optional.of(1.0);
        }
        if (estimatedBytes <= 0) {
            return Optional.empty();
        }
        return Optional.of(Math.min(1.0, bytesCopied / (double) estimatedBytes));
    }
}

package io.pgmigrate;

/**
 * The initial-copy state of one table: from pgmigrate's own copy, or from the target's subscription when PostgreSQL
 * copies it.
 *
 * @since 0.1.0
 */
public enum CopyState {
    /** Waiting for a copy worker. */
    PENDING,
    /** Rows are being copied. */
    COPYING,
    /**
     * The rows are copied; the table waits for its indexes and for the stream, or catches up with the changes made
     * during its copy.
     */
    CATCHING_UP,
    /** The table is copied and receives changes through the main stream. */
    READY
}

package io.pgmigrate;

/**
 * The initial-copy state of one table, as the target's subscription reports it.
 *
 * @since 0.1.0
 */
public enum CopyState {
    /** Waiting for a copy worker. */
    PENDING,
    /** Rows are being copied. */
    COPYING,
    /** The copy is done; the table is catching up with changes made during it. */
    CATCHING_UP,
    /** The table is copied and receives changes through the main stream. */
    READY
}

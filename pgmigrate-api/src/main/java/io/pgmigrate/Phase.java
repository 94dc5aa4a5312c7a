package io.pgmigrate;

/**
 * Where one database of a migration stands.
 *
 * @since 0.1.0
 */
public enum Phase {
    /** Nothing has been created yet. */
    NOT_STARTED,
    /** The schema is being created on the target. */
    SCHEMA,
    /** Tables are being copied; changes made meanwhile are kept by the slot and applied afterwards. */
    COPYING,
    /** Every table is copied and changes stream continuously from source to target. */
    STREAMING,
    /**
     * The stream is stopped by {@link Migration#pause()}: its slot keeps every change, and {@link Migration#start()}
     * resumes where it stopped.
     */
    PAUSED,
    /** A cutover or rollback is under way: the side traffic leaves is fenced while traffic moves. */
    CUTTING_OVER,
    /** Traffic goes to the target; the reverse stream keeps the source in step so {@code rollback()} can return. */
    CUT_OVER,
    /** Every replication object the migration created has been removed. */
    COMPLETED,
    /** Replication stopped with an error; see the status message. */
    FAILED
}

package io.pgmigrate;

/**
 * How changes travel from the source to the target.
 *
 * @since 0.1.0
 */
public enum Engine {
    /** The target subscribes to the source with PostgreSQL's own logical replication (publication + subscription). */
    NATIVE,
    /**
     * pgmigrate reads the source's pgoutput stream itself, in the process that drives the migration, and applies it
     * on the target over JDBC, on several connections at once, exactly once. The target never connects to the source.
     */
    STREAM
}

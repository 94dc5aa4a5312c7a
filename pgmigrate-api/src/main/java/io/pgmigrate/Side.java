package io.pgmigrate;

/**
 * One of the two servers of a migration.
 *
 * @since 0.1.0
 */
public enum Side {
    /** The server the databases are moved from. */
    SOURCE,
    /** The server the databases are moved to. */
    TARGET;

    /**
     * The other server of the migration.
     *
     * @return {@link #TARGET} for {@link #SOURCE}, and {@link #SOURCE} for {@link #TARGET}
     */
    public Side other() {
        return this == SOURCE ? TARGET : SOURCE;
    }
}

package io.pgmigrate;

/**
 * Receives progress and phase events. Every method has a no-op default, so an implementation overrides only what it
 * needs. Methods are called from pgmigrate's own threads and must return quickly.
 *
 * @since 0.1.0
 */
public interface MigrationListener {

    /** A database entered a new phase. */
    default void onPhase(String database, Phase phase) {
    }

    /** A periodic status while the migration is being started or awaited. */
    default void onProgress(MigrationStatus status) {
    }

    /** Something the operator should know that does not stop the migration. */
    default void onWarning(String database, String message) {
    }
}

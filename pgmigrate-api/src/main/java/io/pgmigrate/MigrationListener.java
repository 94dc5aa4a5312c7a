package io.pgmigrate;

/**
 * Receives progress and phase events. Every method has a no-op default, so an implementation overrides only what it
 * needs. Methods are called from pgmigrate's own threads and must return quickly.
 *
 * @since 0.1.0
 */
public interface MigrationListener {

    /**
     * A database entered a new phase.
     *
     * @param database the database's name
     * @param phase    the phase it entered
     */
    default void onPhase(String database, Phase phase) {
    }

    /**
     * A periodic status while the migration is being started or awaited.
     *
     * @param status the migration's status now
     */
    default void onProgress(MigrationStatus status) {
    }

    /**
     * Something the operator should know that does not stop the migration.
     *
     * @param database the database concerned, or empty when the warning is about a server
     * @param message  what the operator should know, ready to log
     */
    default void onWarning(String database, String message) {
    }

    /**
     * Verification or repair compared (or copied again) one more range of a table's key. Called only from the thread
     * that called {@code verify()}, {@code repair()} or {@code cutover()}, so the listener may call the migration:
     * after each range that thread compares, counting those its helper threads compared since (so not necessarily
     * once per range).
     *
     * @param table      the table so far, its rows and differing ranges those of the ranges done
     * @param rangesDone ranges done
     */
    default void onVerifying(TableVerification table, int rangesDone) {
    }

    /**
     * A cutover or rollback ended, moved or abandoned: its report (also when {@code cutover()} throws a
     * {@link CutoverException}, which carries the same report). Called from the thread that called it.
     *
     * @param report the report: direction, window, steps, whether it succeeded
     * @since 0.2.0
     */
    default void onCutover(CutoverReport report) {
    }

    /**
     * A step of a cutover or rollback (or of its undo) is done, as it happens: the steps {@link #onCutover} later
     * reports all together. Called from the thread that runs the move, inside the write-unavailable window too, where
     * the move waits for it: return at once, and hand anything slow to another thread.
     *
     * @param to   where the move takes traffic: {@link Side#TARGET} for a cutover, {@link Side#SOURCE} for a rollback
     * @param step the step's name and how long it took
     * @since 0.2.0
     */
    default void onCutoverStep(Side to, CutoverReport.Step step) {
    }
}

package io.pgmigrate;

/**
 * A cutover or rollback that was abandoned before traffic moved. Fences were lifted and traffic stayed on the side it
 * was on; the report says which step failed and how long writes were held.
 *
 * @since 0.1.0
 */
public final class CutoverException extends PgMigrateException {

    private static final long serialVersionUID = 1L;

    private final transient CutoverReport report;

    /**
     * An abandoned cutover or rollback, with {@link CoreErrorCode#CUTOVER_FAILED} and the report's failure as message.
     *
     * @param database the database the failed step concerned, or null when it concerns none
     * @param report   what the cutover did before it stopped; its {@link CutoverReport#failure()} becomes the message
     * @param cause    the failure that stopped it, or null
     * @throws NullPointerException if {@code report} is null
     */
    public CutoverException(String database, CutoverReport report, Throwable cause) {
        super(CoreErrorCode.CUTOVER_FAILED, database, report.failure(), cause);
        this.report = report;
    }

    /**
     * What the abandoned cutover did before it stopped, with the reason in {@link CutoverReport#failure()}.
     *
     * @return the report given to the constructor
     */
    public CutoverReport report() {
        return report;
    }

    /** The code and the report's failure, which names the database itself. */
    @Override
    public String getMessage() {
        return "[" + code() + "] " + detail();
    }
}

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

    public CutoverException(String database, CutoverReport report, Throwable cause) {
        super(CoreErrorCode.CUTOVER_FAILED, database, report.failure(), cause);
        this.report = report;
    }

    /** What the abandoned cutover did before it stopped, with the reason in {@link CutoverReport#failure()}. */
    public CutoverReport report() {
        return report;
    }

    /** The code and the report's failure, which names the database itself. */
    @Override
    public String getMessage() {
        return "[" + code() + "] " + detail();
    }
}

package io.pgmigrate;

import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.sql.SQLException;
import java.util.Objects;
import java.util.Optional;
import javax.net.ssl.SSLHandshakeException;

/**
 * The one unchecked exception pgmigrate throws for everything but programming errors in the builder
 * ({@link IllegalArgumentException}, {@link IllegalStateException}). It carries an {@link ErrorCode}, the database it
 * happened in when there is one, and for failures that came from the server the SQLSTATE and whether retrying can help.
 * Messages never contain passwords.
 *
 * @since 0.1.0
 */
public class PgMigrateException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** What went wrong; never null. */
    private final ErrorCode code;
    /** The database the failure happened in; null when it concerns none. */
    private final String database;
    /** The server's SQLSTATE; null when the failure did not come from a server. */
    private final String sqlState;
    /** Whether the same operation may succeed when retried. */
    private final boolean transientFailure;

    /**
     * A failure that concerns no particular database, without SQLSTATE, not transient.
     *
     * @param code    what went wrong
     * @param message what happened and, where it helps, what to do; never a password
     * @throws NullPointerException if {@code code} is null
     */
    public PgMigrateException(ErrorCode code, String message) {
        this(code, null, message, null, null, false);
    }

    /**
     * A failure in one database, without SQLSTATE, not transient.
     *
     * @param code     what went wrong
     * @param database the database it happened in, or null when it concerns none
     * @param message  what happened and, where it helps, what to do; never a password
     * @throws NullPointerException if {@code code} is null
     */
    public PgMigrateException(ErrorCode code, String database, String message) {
        this(code, database, message, null, null, false);
    }

    /**
     * A failure with its cause, without SQLSTATE, not transient; {@link #fromSql} wraps a server error instead.
     *
     * @param code     what went wrong
     * @param database the database it happened in, or null when it concerns none
     * @param message  what happened and, where it helps, what to do; never a password
     * @param cause    the underlying failure, or null
     * @throws NullPointerException if {@code code} is null
     */
    public PgMigrateException(ErrorCode code, String database, String message, Throwable cause) {
        this(code, database, message, cause, null, false);
    }

    /**
     * Sets every field, for subclasses.
     *
     * @param code             what went wrong
     * @param database         the database it happened in, or null when it concerns none
     * @param message          what happened and, where it helps, what to do; never a password
     * @param cause            the underlying failure, or null
     * @param sqlState         the server's SQLSTATE, or null when the failure did not come from a server
     * @param transientFailure whether the same operation may succeed when retried
     * @throws NullPointerException if {@code code} is null
     */
    protected PgMigrateException(ErrorCode code, String database, String message, Throwable cause,
                                 String sqlState, boolean transientFailure) {
        super(message, cause);
        this.code = Objects.requireNonNull(code, "code");
        this.database = database;
        this.sqlState = sqlState;
        this.transientFailure = transientFailure;
    }

    /**
     * Wraps a server error. The SQLSTATE decides whether the failure is transient; this is the one place that
     * decision is made.
     *
     * @param code     what went wrong
     * @param database the database it happened in, or null when it concerns none
     * @param message  what was being done; {@code ": "} and the server's message are appended
     * @param cause    the server's error, whose SQLSTATE the exception keeps
     * @return the exception, to throw
     * @throws NullPointerException if {@code code} or {@code cause} is null
     */
    public static PgMigrateException fromSql(ErrorCode code, String database, String message, SQLException cause) {
        String state = cause.getSQLState();
        return new PgMigrateException(code, database, message + ": " + cause.getMessage(), cause, state,
                isTransient(cause));
    }

    /**
     * Whether this failure may succeed when retried: {@link #isTransient(String)} of its SQLSTATE, except for the
     * connection failures (class 08) that the next attempt would meet again: a host name that does not resolve, a
     * TLS handshake or certificate check that failed, and a connection the driver rejected before logging in (08004:
     * the server has no SSL though the endpoint requires it, or it asked for a password and none was given).
     *
     * @param e the failure
     * @return true when retrying may succeed
     */
    public static boolean isTransient(SQLException e) {
        String state = e.getSQLState();
        if (!isTransient(state)) {
            return false;
        }
        if ("08004".equals(state)) {
            return false;
        }
        for (Throwable t = e.getCause(); t != null && t != t.getCause(); t = t.getCause()) {
            if (t instanceof UnknownHostException || t instanceof SSLHandshakeException
                    || t instanceof GeneralSecurityException) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether a failure with this SQLSTATE may succeed when retried: connection failures (class 08), serialization
     * failures and deadlocks (40001, 40P01), operator intervention (57P0x: shutdown, crash, cannot connect now), lock
     * not available (55P03) and too many connections (53300).
     *
     * @param sqlState the five-character SQLSTATE, or null
     * @return true for the states above; false for any other and for null
     */
    public static boolean isTransient(String sqlState) {
        if (sqlState == null) {
            return false;
        }
        return sqlState.startsWith("08")
                || sqlState.equals("40001")
                || sqlState.equals("40P01")
                || sqlState.startsWith("57P0")
                || sqlState.equals("55P03")
                || sqlState.equals("53300");
    }

    /**
     * What went wrong, as a code to compare or switch on.
     *
     * @return the code; never null
     */
    public ErrorCode code() {
        return code;
    }

    /**
     * The database the failure happened in, when it concerns one.
     *
     * @return the database's name; empty when the failure concerns none
     */
    public Optional<String> database() {
        return Optional.ofNullable(database);
    }

    /**
     * The server's SQLSTATE when the failure came from a server.
     *
     * @return the five-character SQLSTATE; empty when the failure did not come from a server
     */
    public Optional<String> sqlState() {
        return Optional.ofNullable(sqlState);
    }

    /**
     * Whether the same operation may succeed when retried.
     *
     * @return true when a retry may succeed; always false for an exception made by a public constructor
     */
    public boolean isTransient() {
        return transientFailure;
    }

    /**
     * What went wrong, without the code and database that {@link #getMessage()} puts before it.
     *
     * @return the message as given to the constructor; for {@link #fromSql} with the server's message appended
     */
    public String detail() {
        return super.getMessage();
    }

    @Override
    public String getMessage() {
        String m = super.getMessage();
        return database == null ? "[" + code + "] " + m : "[" + code + "] database \"" + database + "\": " + m;
    }
}

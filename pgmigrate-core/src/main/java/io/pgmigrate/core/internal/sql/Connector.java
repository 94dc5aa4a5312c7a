package io.pgmigrate.core.internal.sql;

import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Endpoint;
import io.pgmigrate.ErrorCode;
import io.pgmigrate.PgMigrateException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.net.ConnectException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLHandshakeException;

/**
 * Opens JDBC connections to one server. Transient failures (server starting, too many connections, network) are
 * retried with exponential backoff; everything else fails at once with an error that names the endpoint (never the
 * password) and says what to check. Every session gets {@code search_path = pg_catalog}, so catalog functions print
 * fully qualified names, and {@code standard_conforming_strings = on}, which {@link Identifiers#literal} relies on.
 */
public final class Connector {

    private static final Logger LOG = LoggerFactory.getLogger(Connector.class);
    private static final String SESSION_OPTIONS = "-c search_path=pg_catalog -c standard_conforming_strings=on";

    private final Endpoint endpoint;
    private final String role;
    private final Duration connectTimeout;
    private final int attempts;
    private final Retry retry;

    /**
     * @param endpoint       the server
     * @param role           how this server is called in messages ({@code source}, {@code target})
     * @param connectTimeout bound on one attempt: the TCP connect and every wait for the server during login
     * @param attempts       attempts for transient failures
     */
    public Connector(Endpoint endpoint, String role, Duration connectTimeout, int attempts) {
        this.endpoint = endpoint;
        this.role = role;
        this.connectTimeout = connectTimeout;
        this.attempts = attempts;
        RetryConfig config = RetryConfig.custom()
                .maxAttempts(attempts)
                .intervalFunction(IntervalFunction.ofExponentialBackoff(Duration.ofMillis(200), 2.0, Duration.ofSeconds(5)))
                .retryOnException(e -> e instanceof PgMigrateException p && p.isTransient())
                .build();
        this.retry = Retry.of("connect-" + role, config);
        retry.getEventPublisher().onRetry(e -> LOG.warn("{}; retrying in {} ms",
                e.getLastThrowable() == null ? role + " " + endpoint : e.getLastThrowable().getMessage(),
                e.getWaitInterval().toMillis()));
    }

    public Endpoint endpoint() {
        return endpoint;
    }

    /** How this server is named in messages. */
    public String role() {
        return role;
    }

    /** A connection to {@code database}, in auto-commit mode. */
    public Connection connect(String database) {
        return connect(database, "");
    }

    /**
     * A connection to {@code database} with extra server settings in the startup packet ({@code -c name=value ...}):
     * unlike a {@code SET} or a bound parameter, they never appear in the server's statement log.
     *
     * @throws PgMigrateException {@link CoreErrorCode#CONNECTION_FAILED}, {@link CoreErrorCode#AUTHENTICATION_FAILED},
     *                            {@link CoreErrorCode#DATABASE_MISSING} or {@link CoreErrorCode#PERMISSION_DENIED}, naming
     *                            the endpoint and database, after the configured attempts when the failure is
     *                            transient and at once when it is not
     */
    public Connection connect(String database, String extraOptions) {
        return connect(database, extraOptions, Map.of());
    }

    /**
     * As {@link #connect(String, String)}, with driver properties of its own on top of the endpoint's (the copy's
     * larger send buffer).
     */
    public Connection connect(String database, String extraOptions, Map<String, String> driverProperties) {
        AtomicInteger attempt = new AtomicInteger();
        return Retry.decorateSupplier(retry, () -> attempt(database, extraOptions, attempt.incrementAndGet(), false,
                driverProperties)).get();
    }

    /**
     * A logical replication connection to {@code database} ({@code replication=database}): it takes replication
     * commands such as {@code CREATE_REPLICATION_SLOT} besides SQL, over the simple query protocol only. Never checked
     * with {@link Connection#isValid}: pgjdbc sends {@code IDENTIFY_SYSTEM} for that, and any command ends the
     * snapshot a slot exported on this connection. No socket timeout: creating a slot waits for every transaction
     * that was running to end.
     */
    public Connection connectForReplication(String database, String extraOptions) {
        AtomicInteger attempt = new AtomicInteger();
        return Retry.decorateSupplier(retry, () -> attempt(database, extraOptions, attempt.incrementAndGet(), true,
                Map.of())).get();
    }

    private Connection attempt(String database, String extraOptions, int attempt, boolean replication,
                               Map<String, String> driverProperties) {
        Properties props = new Properties();
        endpoint.properties().forEach(props::setProperty);
        driverProperties.forEach(props::setProperty);
        endpoint.user().ifPresent(u -> props.setProperty("user", u));
        password(database).ifPresent(p -> props.setProperty("password", p));
        int timeoutSeconds = (int) Math.max(1, connectTimeout.toSeconds());
        props.setProperty("connectTimeout", Integer.toString(timeoutSeconds));
        // pgjdbc's connectTimeout bounds the TCP connect only: a server that accepts and then stays silent would
        // hold the login forever, and with sslmode=prefer pgjdbc may open a second connection without SSL after the
        // first timed out. loginTimeout bounds the whole attempt; a socket timeout bounds each wait while logging in,
        // so an abandoned attempt ends too. The endpoint's own socketTimeout (none by default) applies once open.
        props.putIfAbsent("loginTimeout", Integer.toString(timeoutSeconds));
        int sessionSocketTimeout = socketTimeoutSeconds(props.getProperty("socketTimeout"));
        props.setProperty("socketTimeout", Integer.toString(sessionSocketTimeout == 0 ? timeoutSeconds
                : Math.min(sessionSocketTimeout, timeoutSeconds)));
        props.putIfAbsent("ApplicationName", "pgmigrate");
        props.putIfAbsent("tcpKeepAlive", "true");
        if (replication) {
            // pgjdbc sends replication=database only when it may assume 9.4 or later; a walsender speaks the simple
            // query protocol only.
            props.setProperty("replication", "database");
            props.setProperty("assumeMinServerVersion", "10");
            props.setProperty("preferQueryMode", "simple");
        }
        String options = props.getProperty("options");
        String ours = extraOptions.isEmpty() ? SESSION_OPTIONS : SESSION_OPTIONS + " " + extraOptions;
        props.setProperty("options", options == null ? ours : options + " " + ours);
        Connection c;
        long started = System.nanoTime();
        try {
            c = DriverManager.getConnection(endpoint.jdbcUrl(database), props);
        } catch (SQLException e) {
            boolean timedOut = System.nanoTime() - started >= TimeUnit.SECONDS.toNanos(timeoutSeconds) - 100_000_000L;
            throw classify(database, e, attempt, timedOut);
        }
        try {
            c.setNetworkTimeout(Runnable::run, replication ? 0 : sessionSocketTimeout * 1000);
            c.setAutoCommit(true);
            if (!replication && c.getMetaData().getDatabaseMajorVersion() >= 14) {
                // The migration's sessions are kept open and sit idle between calls (the lock's session for the
                // whole migration): a server's idle_session_timeout must not end them, least of all inside a cutover.
                // Not in the startup packet: PostgreSQL 12 and 13 refuse a setting they do not know.
                Queries.execute(c, "SET idle_session_timeout = 0");
            }
            return c;
        } catch (SQLException e) {
            try {
                c.close();
            } catch (SQLException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw classify(database, e, attempt, false);
        }
    }

    private int socketTimeoutSeconds(String value) {
        if (value == null || value.isBlank()) {
            return 0;
        }
        try {
            return Math.max(0, Integer.parseInt(value.trim()));
        } catch (NumberFormatException e) {
            throw new PgMigrateException(CoreErrorCode.INVALID_CONFIGURATION, role + " " + endpoint
                    + ": connection property socketTimeout must be a whole number of seconds, was '" + value + "'");
        }
    }

    /** The password for {@code database}: the endpoint's, else a matching line of its passfile. */
    public Optional<String> password(String database) {
        if (endpoint.password().isPresent()) {
            return endpoint.password();
        }
        if (endpoint.passfile().isEmpty()) {
            return Optional.empty();
        }
        try {
            return Passfile.lookup(endpoint.passfile().get(), endpoint.host(), endpoint.port(), database,
                    endpoint.user().orElse(""));
        } catch (IllegalArgumentException e) {
            throw new PgMigrateException(CoreErrorCode.INVALID_CONFIGURATION, database, role + " "
                    + endpoint.database(database) + ": " + e.getMessage(), e);
        }
    }

    /**
     * The exception for a failed attempt: its code, a message naming the endpoint (never the password), what to
     * check, and the driver's message. Whether it is retried is {@link PgMigrateException#isTransient(SQLException)}.
     */
    PgMigrateException classify(String database, SQLException e, int attempt, boolean timedOut) {
        String state = e.getSQLState() == null ? "" : e.getSQLState();
        String where = role + " " + endpoint.database(database);
        Throwable root = rootCause(e);
        ErrorCode code;
        String hint;
        if (state.equals("28P01") || state.equals("28000")) {
            code = CoreErrorCode.AUTHENTICATION_FAILED;
            hint = "check the user and password" + passfileNote(database)
                    + ", and that the server's pg_hba.conf admits this user from this host";
        } else if (state.equals("08004") && mentionsPassword(e)) {
            code = CoreErrorCode.AUTHENTICATION_FAILED;
            hint = "the server asks for a password and none was given: set the endpoint's password(...) or"
                    + " passfile(...)" + passfileNote(database);
        } else if (state.equals("08004")) {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "the connection was rejected before login; if it is about SSL, the endpoint's sslmode ("
                    + endpoint.properties().getOrDefault("sslmode", "prefer") + ") asks for SSL the server does not"
                    + " offer: turn on ssl on the server or choose another sslmode";
        } else if (state.equals("3D000")) {
            code = CoreErrorCode.DATABASE_MISSING;
            hint = "check the database name: it is taken exactly as written, case and spaces included";
        } else if (state.equals("42501")) {
            code = CoreErrorCode.PERMISSION_DENIED;
            hint = "grant the migration role CONNECT on the database";
        } else if (root instanceof UnknownHostException) {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "host name " + endpoint.host() + " does not resolve: check the host name and DNS";
        } else if (root instanceof SSLHandshakeException || root instanceof GeneralSecurityException) {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "the SSL handshake failed: check sslmode, sslrootcert and the server's certificate";
        } else if (root instanceof ConnectException) {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "nothing accepts connections on port " + endpoint.port() + ": check the host and port, and that"
                    + " the server is running and listens there (listen_addresses)";
        } else if (root instanceof SocketTimeoutException || (timedOut && state.startsWith("08"))) {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "no answer within the connect timeout of " + Math.max(1, connectTimeout.toSeconds()) + " s: check the host and"
                    + " port, firewalls, and that it is a PostgreSQL server that is not overloaded";
        } else if (root instanceof EOFException || root instanceof SocketException) {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "the server closed the connection during login: check that the port is PostgreSQL's, and the"
                    + " server's log";
        } else if (state.startsWith("08") || state.isEmpty()) {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "check host, port, SSL settings and that the server is running and reachable";
        } else if (state.equals("53300") || state.startsWith("57P0")) {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "the server is not accepting connections now (starting, shutting down, or at max_connections)";
        } else {
            code = CoreErrorCode.CONNECTION_FAILED;
            hint = "see the server's message";
        }
        String tries = !PgMigrateException.isTransient(e) ? ""
                : attempt >= attempts ? " after " + attempts + (attempts == 1 ? " attempt" : " attempts")
                : " (attempt " + attempt + " of " + attempts + ")";
        return PgMigrateException.fromSql(code, database, "cannot connect to " + where + tries + " (" + hint + ")",
                e);
    }

    private String passfileNote(String database) {
        return endpoint.passfile()
                .filter(f -> endpoint.password().isEmpty())
                .map(f -> "; passfile " + f + (password(database).isPresent() ? " has a line for "
                        : " has no line for ") + endpoint.host() + ":" + endpoint.port() + ":" + database + ":"
                        + endpoint.user().orElse(""))
                .orElse("");
    }

    private static boolean mentionsPassword(SQLException e) {
        String m = e.getMessage();
        return m != null && (m.contains("password") || m.contains("SCRAM") || m.contains("authentication"));
    }

    private static Throwable rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}

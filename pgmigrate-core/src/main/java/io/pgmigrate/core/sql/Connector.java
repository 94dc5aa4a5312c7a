package io.pgmigrate.core.sql;

import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.pgmigrate.Endpoint;
import io.pgmigrate.ErrorCode;
import io.pgmigrate.PgMigrateException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Optional;
import java.util.Properties;

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
    private final Retry retry;

    /**
     * @param endpoint       the server
     * @param role           how this server is called in messages ({@code source}, {@code target})
     * @param connectTimeout bound on one attempt
     * @param attempts       attempts for transient failures
     */
    public Connector(Endpoint endpoint, String role, Duration connectTimeout, int attempts) {
        this.endpoint = endpoint;
        this.role = role;
        this.connectTimeout = connectTimeout;
        RetryConfig config = RetryConfig.custom()
                .maxAttempts(attempts)
                .intervalFunction(IntervalFunction.ofExponentialBackoff(Duration.ofMillis(200), 2.0, Duration.ofSeconds(5)))
                .retryOnException(e -> e instanceof PgMigrateException p && p.isTransient())
                .build();
        this.retry = Retry.of("connect-" + role, config);
        retry.getEventPublisher().onRetry(e -> LOG.warn("{} {}: attempt {} failed ({}); retrying in {} ms", role, endpoint,
                e.getNumberOfRetryAttempts(), e.getLastThrowable() == null ? "" : e.getLastThrowable().getMessage(),
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
     */
    public Connection connect(String database, String extraOptions) {
        return Retry.decorateSupplier(retry, () -> attempt(database, extraOptions)).get();
    }

    private Connection attempt(String database, String extraOptions) {
        Properties props = new Properties();
        endpoint.properties().forEach(props::setProperty);
        endpoint.user().ifPresent(u -> props.setProperty("user", u));
        password(database).ifPresent(p -> props.setProperty("password", p));
        props.setProperty("connectTimeout", Long.toString(Math.max(1, connectTimeout.toSeconds())));
        props.putIfAbsent("ApplicationName", "pgmigrate");
        props.putIfAbsent("tcpKeepAlive", "true");
        String options = props.getProperty("options");
        String ours = extraOptions.isEmpty() ? SESSION_OPTIONS : SESSION_OPTIONS + " " + extraOptions;
        props.setProperty("options", options == null ? ours : options + " " + ours);
        try {
            Connection c = DriverManager.getConnection(endpoint.jdbcUrl(database), props);
            c.setAutoCommit(true);
            return c;
        } catch (SQLException e) {
            throw classify(database, e);
        }
    }

    /** The password for {@code database}: the endpoint's, else a matching line of its passfile. */
    public Optional<String> password(String database) {
        if (endpoint.password().isPresent()) {
            return endpoint.password();
        }
        return endpoint.passfile().flatMap(f -> Passfile.lookup(f, endpoint.host(), endpoint.port(), database,
                endpoint.user().orElse("")));
    }

    private PgMigrateException classify(String database, SQLException e) {
        String state = e.getSQLState() == null ? "" : e.getSQLState();
        String where = role + " " + endpoint.database(database);
        ErrorCode code;
        String hint;
        if (state.equals("28P01") || state.equals("28000")) {
            code = ErrorCode.AUTHENTICATION_FAILED;
            hint = "check the user and password, and that the server's pg_hba.conf admits this client";
        } else if (state.equals("3D000")) {
            code = ErrorCode.DATABASE_MISSING;
            hint = "check the database name";
        } else if (state.equals("42501")) {
            code = ErrorCode.PERMISSION_DENIED;
            hint = "grant the migration role CONNECT on the database";
        } else if (state.startsWith("08") || state.isEmpty()) {
            code = ErrorCode.CONNECTION_FAILED;
            hint = "check host, port, SSL settings and that the server is running and reachable";
        } else {
            code = ErrorCode.CONNECTION_FAILED;
            hint = "see the server's message";
        }
        return PgMigrateException.fromSql(code, database, "cannot connect to " + where + " (" + hint + ")", e);
    }
}

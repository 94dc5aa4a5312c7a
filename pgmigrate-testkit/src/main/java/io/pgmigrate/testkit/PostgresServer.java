package io.pgmigrate.testkit;

import io.pgmigrate.Endpoint;
import io.pgmigrate.testkit.internal.SqlIdentifier;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/**
 * A running PostgreSQL server for tests, reachable as its superuser. Closing it stops the server and deletes its
 * data.
 */
public interface PostgresServer extends AutoCloseable {

    /** The PostgreSQL major version this server runs, such as 14 or 18. */
    int majorVersion();

    /** The host the test JVM reaches the server on ({@code 127.0.0.1} for embedded servers). */
    String host();

    /** The port the test JVM reaches the server on. */
    int port();

    /** The superuser's role name. */
    String superuser();

    /** This server as seen from the test JVM, as the superuser (with its password, if it has one), no database. */
    Endpoint endpoint();

    /** {@link #endpoint()} with a database. */
    default Endpoint endpoint(String database) {
        return endpoint().database(database);
    }

    /**
     * This server as another server of the same pair reaches it, for example in {@code CREATE SUBSCRIPTION}: for
     * embedded servers the same as {@link #endpoint()}, for containers the network alias and port 5432.
     */
    Endpoint endpointForPeers();

    /** The JDBC URL of one database as the superuser; it names the user but never carries a password. */
    default String jdbcUrl(String database) {
        return endpoint().jdbcUrl(database) + "?user=" + URLEncoder.encode(superuser(), StandardCharsets.UTF_8);
    }

    /** A new JDBC connection to {@code database} as the superuser; the caller closes it. */
    default Connection connect(String database) throws SQLException {
        Endpoint e = endpoint(database);
        Properties props = new Properties();
        props.putAll(e.properties());
        props.setProperty("user", superuser());
        e.password().ifPresent(p -> props.setProperty("password", p));
        props.putIfAbsent("ApplicationName", "pgmigrate-testkit");
        // The driver directly rather than DriverManager, which misses drivers loaded by other class loaders.
        Connection c = new org.postgresql.Driver().connect(e.jdbcUrl(database), props);
        if (c == null) {
            throw new SQLException("pgjdbc did not accept " + e.jdbcUrl(database));
        }
        return c;
    }

    /**
     * Creates a database. The name is always taken as a name (quoted, quotes doubled), whatever characters it holds.
     *
     * @throws IllegalArgumentException for an empty name or one longer than 63 bytes
     * @throws IllegalStateException when the server refuses, for example because the database exists
     */
    default void createDatabase(String name) {
        execute("postgres", "CREATE DATABASE " + SqlIdentifier.quote(name));
    }

    /**
     * Runs SQL in {@code database} as the superuser, in autocommit mode; several statements separated by semicolons
     * are allowed. Meant for test setup.
     *
     * @throws IllegalStateException wrapping the {@link SQLException} when the statement fails
     */
    default void execute(String database, String sql) {
        try (Connection c = connect(database); Statement s = c.createStatement()) {
            s.execute(sql);
        } catch (SQLException e) {
            throw new IllegalStateException("SQL failed in database " + database + " on " + this + " (SQLSTATE "
                    + e.getSQLState() + "): " + e.getMessage(), e);
        }
    }

    /** Stops the server and removes its data directory; does nothing when already closed. */
    @Override
    void close();
}

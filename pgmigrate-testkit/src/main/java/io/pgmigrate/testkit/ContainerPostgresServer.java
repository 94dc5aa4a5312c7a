package io.pgmigrate.testkit;

import io.pgmigrate.Endpoint;
import io.pgmigrate.testkit.internal.ServerSettings;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.PostgreSQLContainer;
import org.testcontainers.utility.DockerImageName;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A PostgreSQL server in a {@code postgres:<major>} Docker container, attached to a Testcontainers {@link Network}
 * under an alias so that other containers on that network reach it. Needs {@code org.testcontainers:postgresql} on
 * the class path and a Docker daemon.
 *
 * <p>All Testcontainers types of the testkit are confined to this class, so the rest of the testkit loads without
 * Testcontainers.
 */
public final class ContainerPostgresServer implements PostgresServer {

    /** Port PostgreSQL listens on inside its container. */
    public static final int CONTAINER_PORT = 5432;

    private static final String SUPERUSER = "postgres";
    // Only a throwaway test container ever has this password.
    private static final String PASSWORD = "postgres";

    private final int major;
    private final String alias;
    private final PostgreSQLContainer<?> container;
    private final AtomicBoolean closed = new AtomicBoolean();

    private ContainerPostgresServer(int major, String alias, PostgreSQLContainer<?> container) {
        this.major = major;
        this.alias = alias;
        this.container = container;
    }

    /**
     * Starts a {@code postgres:<major>} container (image overridable with {@code pgmigrate.testkit.image.<major>})
     * with the testkit's replication settings, on {@code network} under {@code alias}.
     *
     * @throws IllegalArgumentException for an unsupported major or an empty alias
     * @throws IllegalStateException    when Docker is missing or the container does not start
     */
    public static ContainerPostgresServer start(int major, Network network, String alias) {
        if (!PostgresBinaries.supportedMajors().contains(major)) {
            throw new IllegalArgumentException("major must be one of " + PostgresBinaries.supportedMajors()
                    + ", was " + major);
        }
        if (alias == null || alias.isBlank()) {
            throw new IllegalArgumentException("alias must not be empty");
        }
        if (!isDockerAvailable()) {
            throw new IllegalStateException("Docker is needed for PostgreSQL containers and none was found");
        }
        List<String> command = new ArrayList<>();
        command.add("postgres");
        // The entrypoint passes these as separate arguments, so values need no quoting.
        ServerSettings.defaults(major).forEach((k, v) -> {
            command.add("-c");
            command.add(k + "=" + v);
        });
        @SuppressWarnings("resource") // closed by close()
        PostgreSQLContainer<?> container = new PostgreSQLContainer<>(
                DockerImageName.parse(image(major)).asCompatibleSubstituteFor("postgres"))
                .withUsername(SUPERUSER)
                .withPassword(PASSWORD)
                .withDatabaseName("postgres")
                .withNetwork(network)
                .withNetworkAliases(alias)
                .withCommand(command.toArray(String[]::new))
                .withStartupTimeout(Duration.ofMinutes(3));
        ContainerPostgresServer server = new ContainerPostgresServer(major, alias, container);
        try {
            container.start();
            server.checkMajor();
            return server;
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
    }

    /** The image for {@code major}: the system property {@code pgmigrate.testkit.image.<major>}, else {@code postgres:<major>}. */
    public static String image(int major) {
        String configured = System.getProperty("pgmigrate.testkit.image." + major);
        return configured == null || configured.isBlank() ? "postgres:" + major : configured.trim();
    }

    /** Whether Testcontainers finds a Docker daemon it can use. */
    public static boolean isDockerAvailable() {
        return DockerClientFactory.instance().isDockerAvailable();
    }

    /** A source and a target container on a new network with the aliases {@code source} and {@code target}. */
    static ServerPair startPair(int sourceMajor, int targetMajor) {
        Network network = Network.newNetwork();
        return ServerPair.start(
                () -> start(sourceMajor, network, "source"),
                () -> start(targetMajor, network, "target"),
                network::close);
    }

    @Override
    public int majorVersion() {
        return major;
    }

    @Override
    public String host() {
        return container.getHost();
    }

    @Override
    public int port() {
        return container.getMappedPort(CONTAINER_PORT);
    }

    @Override
    public String superuser() {
        return SUPERUSER;
    }

    @Override
    public Endpoint endpoint() {
        return Endpoint.of(host(), port(), null).user(SUPERUSER).password(PASSWORD);
    }

    /** The network alias and port 5432, how other containers on the same network reach this one. */
    @Override
    public Endpoint endpointForPeers() {
        return Endpoint.of(alias, CONTAINER_PORT, null).user(SUPERUSER).password(PASSWORD);
    }

    /** The network alias of this container. */
    public String alias() {
        return alias;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            container.stop();
        }
    }

    @Override
    public String toString() {
        return "PostgreSQL " + major + " container " + alias + (container.isRunning()
                ? " on " + container.getHost() + ":" + container.getMappedPort(CONTAINER_PORT) : "");
    }

    private void checkMajor() {
        try (Connection c = connect("postgres"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SHOW server_version_num")) {
            rs.next();
            int actual = Integer.parseInt(rs.getString(1)) / 10000;
            if (actual != major) {
                throw new IllegalStateException("image " + image(major) + " runs PostgreSQL " + actual + ", not "
                        + major + "; check -Dpgmigrate.testkit.image." + major);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot query " + this + ": " + e.getMessage(), e);
        }
    }
}

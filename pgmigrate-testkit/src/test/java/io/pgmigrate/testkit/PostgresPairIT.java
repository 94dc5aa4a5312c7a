package io.pgmigrate.testkit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;

import static io.pgmigrate.testkit.EmbeddedPostgresServerIT.show;
import static org.assertj.core.api.Assertions.assertThat;

@PostgresPair(source = 14, target = 18)
class PostgresPairIT {

    private static PostgresServer sourceInBeforeAll;
    private static PostgresServer targetInBeforeAll;

    private final PostgresServer sourceInConstructor;

    PostgresPairIT(@Source PostgresServer source) {
        this.sourceInConstructor = source;
    }

    @BeforeAll
    static void keepTheServers(@Source PostgresServer source, @Target PostgresServer target) {
        sourceInBeforeAll = source;
        targetInBeforeAll = target;
    }

    @Test
    void sourceAndTargetRunTheAnnotatedMajorsForTheWholeClass(@Source PostgresServer source,
                                                               @Target PostgresServer target) throws Exception {
        assertThat(source.majorVersion()).isEqualTo(14);
        assertThat(target.majorVersion()).isEqualTo(18);
        assertThat(Integer.parseInt(show(source, "server_version_num")) / 10000).isEqualTo(14);
        assertThat(Integer.parseInt(show(target, "server_version_num")) / 10000).isEqualTo(18);
        assertThat(source).isSameAs(sourceInBeforeAll).isSameAs(sourceInConstructor);
        assertThat(target).isSameAs(targetInBeforeAll).isNotSameAs(source);
        assertThat(source).isInstanceOf(EmbeddedPostgresServer.class);
        assertThat(source.endpointForPeers()).isEqualTo(source.endpoint());
        try (Connection c = DriverManager.getConnection(target.jdbcUrl("postgres"))) {
            assertThat(c.getMetaData().getUserName()).isEqualTo(target.superuser());
        }
    }

    @Test
    void createDatabaseTakesAnInjectionStyleNameAsAName(@Target PostgresServer target) throws Exception {
        target.execute("postgres", "CREATE TABLE y (id int)");
        String name = "x\"; DROP TABLE y; --";

        target.createDatabase(name);

        try (Connection c = target.connect("postgres");
             PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM pg_database WHERE datname = ?")) {
            ps.setString(1, name);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                assertThat(rs.getInt(1)).isEqualTo(1);
            }
        }
        try (Connection c = target.connect("postgres"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT to_regclass('y') IS NOT NULL")) {
            rs.next();
            assertThat(rs.getBoolean(1)).as("table y survived").isTrue();
        }
        try (Connection c = target.connect(name); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT current_database()")) {
            rs.next();
            assertThat(rs.getString(1)).isEqualTo(name);
        }
    }

    @Test
    void rowsReachTheTargetThroughNativeLogicalReplication(@Source PostgresServer source,
                                                           @Target PostgresServer target) throws Exception {
        LogicalReplication.assertRowsReachTarget(source, target, "replicated");
    }

    @Nested
    class NestedClass {

        @Test
        void usesTheServersOfItsEnclosingClass(@Source PostgresServer source, @Target PostgresServer target) {
            assertThat(source).isSameAs(sourceInBeforeAll);
            assertThat(target).isSameAs(targetInBeforeAll);
        }
    }
}

package io.pgmigrate.testkit;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Runs where Docker is available; elsewhere the extension skips it with an assumption. */
@PostgresPair(source = 14, target = 18, provider = ServerProvider.TESTCONTAINERS)
class ContainerPairIT {

    @Test
    void targetContainerSubscribesToSourceContainerOverTheSharedNetwork(@Source PostgresServer source,
                                                                        @Target PostgresServer target)
            throws Exception {
        assertThat(Integer.parseInt(EmbeddedPostgresServerIT.show(source, "server_version_num")) / 10000)
                .isEqualTo(14);
        assertThat(Integer.parseInt(EmbeddedPostgresServerIT.show(target, "server_version_num")) / 10000)
                .isEqualTo(18);
        assertThat(EmbeddedPostgresServerIT.show(target, "wal_level")).isEqualTo("logical");
        if (source instanceof ContainerPostgresServer) {
            assertThat(source.endpointForPeers().host()).isEqualTo("source");
            assertThat(source.endpointForPeers().port()).isEqualTo(5432);
            assertThat(target.endpointForPeers().host()).isEqualTo("target");
        }

        LogicalReplication.assertRowsReachTarget(source, target, "replicated");
    }
}

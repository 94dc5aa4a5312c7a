package io.pgmigrate.testkit.internal;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ServerSettingsTest {

    @Test
    void defaultsAreSizedForLogicalReplicationInBothDirections() {
        assertThat(ServerSettings.defaults())
                .containsEntry("wal_level", "logical")
                .containsEntry("max_replication_slots", "40")
                .containsEntry("max_wal_senders", "40")
                .containsEntry("max_worker_processes", "40")
                .containsEntry("max_logical_replication_workers", "30")
                .containsEntry("max_sync_workers_per_subscription", "4")
                .containsEntry("max_connections", "200")
                .containsEntry("fsync", "off")
                .containsEntry("synchronous_commit", "off")
                .containsEntry("full_page_writes", "off")
                .containsEntry("wal_retrieve_retry_interval", "200ms")
                .doesNotContainKey("listen_addresses");
    }

    @Test
    void confLineKeepsQuotesAndBackslashesLiteral() {
        assertThat(ServerSettings.confLine("log_line_prefix", "it's C:\\tmp %m "))
                .isEqualTo("log_line_prefix = 'it''s C:\\\\tmp %m '");
        assertThat(ServerSettings.confLine("pg_stat_statements.max", "100"))
                .isEqualTo("pg_stat_statements.max = '100'");
    }

    @Test
    void keysThatAreNotSettingNamesAreRejected() {
        for (String bad : new String[] {"", "a b", "x=1", "wal_level\nfsync", "a;b", "1abc", "a.b.c"}) {
            assertThatThrownBy(() -> ServerSettings.checkKey(bad)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> ServerSettings.checkKey(null)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void valuesWithLineBreaksAreRejectedNamingTheKey() {
        assertThatThrownBy(() -> ServerSettings.checkValue("work_mem", "1MB\nfsync = on"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("work_mem");
        assertThatThrownBy(() -> ServerSettings.checkValue("work_mem", null))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void postgres18GetsRoomForReplicationOrigins() {
        assertThat(ServerSettings.defaults(18)).containsEntry("max_active_replication_origins", "40");
        assertThat(ServerSettings.defaults(17)).doesNotContainKey("max_active_replication_origins");
    }
}

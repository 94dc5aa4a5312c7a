package io.pgmigrate.core.internal;

import io.pgmigrate.Engine;
import io.pgmigrate.LeftBehind;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A properties file's keys are the builder's method names: {@code MigrationBuilder.configure}. */
class BuilderConfigureTest {

    @Test
    void eachKeyIsABuilderMethodAndEachValueItsArgument() {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("name", "shop_to_pg18");
        settings.put("databases", "shop, crm");
        settings.put("source", "jdbc:postgresql://10.0.0.11:5432/");
        settings.put("source.user", "pgmigrate");
        settings.put("source.passfile", "/etc/pgmigrate/pgpass");
        settings.put("source.property.sslmode", "verify-full");
        settings.put("target", "jdbc:postgresql://10.0.0.21:6543/");
        settings.put("target.user", "pgmigrate");
        settings.put("target.password", "${env:PATH}");
        settings.put("stateDirectory", "/var/lib/pgmigrate");
        settings.put("engine", "stream");
        settings.put("cutoverTimeout", "45s");
        settings.put("fenceDrainTimeout", "750ms");
        settings.put("cutoverCatchUpTimeout", "PT2M");
        settings.put("copyPartSize", "64MiB");
        settings.put("copyRateLimit", "50MB");
        settings.put("copyWorkers", "3");
        settings.put("refreshMaterializedViews", "false");
        settings.put("acceptLeftBehind", "unlogged_tables,LARGE_OBJECTS");
        try (Migration m = Migration.builder().configure(settings).build()) {
            MigrationConfig c = m.config();
            assertThat(c.name()).isEqualTo("shop_to_pg18");
            assertThat(c.databases()).containsExactly("shop", "crm");
            assertThat(c.source().host()).isEqualTo("10.0.0.11");
            assertThat(c.source().user()).contains("pgmigrate");
            assertThat(c.source().passfile()).contains(Path.of("/etc/pgmigrate/pgpass"));
            assertThat(c.source().properties()).containsEntry("sslmode", "verify-full");
            assertThat(c.target().port()).isEqualTo(6543);
            assertThat(c.target().password()).contains(System.getenv("PATH"));
            assertThat(c.engine()).isEqualTo(Engine.STREAM);
            assertThat(c.cutover().timeout()).isEqualTo(Duration.ofSeconds(45));
            assertThat(c.cutover().drainTimeout()).isEqualTo(Duration.ofMillis(750));
            assertThat(c.cutover().catchUpTimeout()).isEqualTo(Duration.ofMinutes(2));
            assertThat(c.cutover().refreshMaterializedViews()).isFalse();
            assertThat(c.cutover().acceptedLeftBehind()).isEqualTo(Set.of(LeftBehind.UNLOGGED_TABLES,
                    LeftBehind.LARGE_OBJECTS));
            assertThat(c.copy().partBytes()).isEqualTo(64L << 20);
            assertThat(c.copy().maxBytesPerSecond()).isEqualTo(50_000_000L);
            assertThat(c.copy().workers()).isEqualTo(3);
        }
    }

    @Test
    void aKeyThatIsNoSettingIsRefusedNamingItAndTheSettings() {
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("cutover.timeout", "30s")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown setting cutover.timeout").hasMessageContaining("cutoverTimeout");
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("source", "jdbc:postgresql://h:5432/",
                "source.pasword", "x"))).hasMessageContaining("unknown setting source.pasword");
    }

    @Test
    void aValueThatDoesNotFitIsRefusedSayingWhatFits() {
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("cutoverTimeout", "thirty")))
                .hasMessageContaining("cutoverTimeout=thirty is not a duration such as 30s");
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("engine", "FAST")))
                .hasMessageContaining("engine=FAST is not one of [NATIVE, STREAM]");
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("trafficSwitch", "vip")))
                .hasMessageContaining("trafficSwitch cannot be set from text").hasMessageContaining("set it in code");
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("target", "jdbc:postgresql://h:5432/",
                "target.password", "${env:PGMIGRATE_SURELY_UNSET_VARIABLE}")))
                .hasMessageContaining("PGMIGRATE_SURELY_UNSET_VARIABLE, which is not set");
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("copyWorkers", "0")))
                .hasMessageStartingWith("copyWorkers: ");
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("stateDirectory", " ")))
                .hasMessageContaining("stateDirectory has no value");
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("target", "x", "target.password",
                "${ENV:X}"))).hasMessageContaining("not ${env:NAME}");
        // a URL with a password in it is named by its key, the password never printed
        assertThatThrownBy(() -> Migration.builder().configure(Map.of("source", "postgres://app:S3cret@db:5432/shop")))
                .hasMessageStartingWith("source: ").hasMessageNotContaining("S3cret");
    }
}

package io.pgmigrate;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EndpointTest {

    @Test
    void parsesHostPortDatabaseAndProperties() {
        Endpoint e = Endpoint.of("jdbc:postgresql://db.example:6543/shop?sslmode=verify-full&user=app");
        assertThat(e.host()).isEqualTo("db.example");
        assertThat(e.port()).isEqualTo(6543);
        assertThat(e.database()).contains("shop");
        assertThat(e.user()).contains("app");
        assertThat(e.properties()).containsEntry("sslmode", "verify-full").doesNotContainKey("user");
    }

    @Test
    void defaultPortAndIpv6() {
        assertThat(Endpoint.of("jdbc:postgresql://h/").port()).isEqualTo(5432);
        Endpoint v6 = Endpoint.of("jdbc:postgresql://[::1]:5433/x");
        assertThat(v6.host()).isEqualTo("::1");
        assertThat(v6.port()).isEqualTo(5433);
    }

    @Test
    void passwordNeverAppearsInToString() {
        Endpoint e = Endpoint.of("jdbc:postgresql://h:5432/db?password=s3cr3t-url").user("u").password("s3cr3t");
        assertThat(e.toString()).doesNotContain("s3cr3t").isEqualTo("postgresql://u@h:5432/db");
        assertThat(e.password()).contains("s3cr3t");
    }

    @Test
    void badUrlErrorRedactsThePassword() {
        assertThatThrownBy(() -> Endpoint.of("postgres://h/db?password=hunter2"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageNotContaining("hunter2").hasMessageContaining("jdbc:postgresql://");
    }

    @Test
    void userInfoInTheUrlIsRejectedWithoutEchoingIt() {
        assertThatThrownBy(() -> Endpoint.of("jdbc:postgresql://app:s3cret@db1:5432/shop"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageNotContaining("s3cret").hasMessageContaining("user:password@host");
    }

    @Test
    void badPortIsRejected() {
        assertThatThrownBy(() -> Endpoint.of("jdbc:postgresql://h:99999/db"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("port");
    }

    @Test
    void jdbcUrlEncodesOddDatabaseNames() {
        assertThat(Endpoint.of("jdbc:postgresql://h:1/").jdbcUrl("a b/c?d"))
                .isEqualTo("jdbc:postgresql://h:1/a%20b%2Fc%3Fd");
    }
}

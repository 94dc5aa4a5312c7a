package io.pgmigrate.core.internal.replication.nativ;

import io.pgmigrate.Endpoint;
import org.junit.jupiter.api.Test;

import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

class NativeLinkTest {

    @Test
    void conninfoQuotesEveryValueAndPassesSslSettings() {
        Endpoint e = Endpoint.of("jdbc:postgresql://10.0.0.1:6432/?sslmode=require&loggerLevel=OFF")
                .user("mig'rator").database("my db");
        String c = NativeLink.conninfo(e, Optional.of("p w'\\"));
        assertThat(c).isEqualTo("host='10.0.0.1' port='6432' user='mig\\'rator' password='p w\\'\\\\'"
                + " dbname='my db' sslmode='require'");
    }
}

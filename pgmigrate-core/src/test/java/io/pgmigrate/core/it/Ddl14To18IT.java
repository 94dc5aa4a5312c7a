package io.pgmigrate.core.it;

import io.pgmigrate.Engine;
import io.pgmigrate.testkit.PostgresPair;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

/** Schema changes carried by NATIVE, from PostgreSQL 14 to 18 and back. */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class Ddl14To18IT extends DdlContract {

    @Override
    Engine engine() {
        return Engine.NATIVE;
    }
}

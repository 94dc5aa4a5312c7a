package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

/** The STREAM engine from PostgreSQL 12 (protocol 1, no logical decoding messages) to 18, applying on one connection. */
@PostgresPair(source = 12, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class StreamWorker12To18IT extends StreamWorkerContract {

    @Override
    int workers() {
        return 1;
    }
}

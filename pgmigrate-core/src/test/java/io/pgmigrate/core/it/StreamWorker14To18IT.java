package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

/** The STREAM engine from PostgreSQL 14 (protocol 2, multiranges) to 18, applying on four connections. */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class StreamWorker14To18IT extends StreamWorkerContract {

    @Override
    String newerKinds() {
        return "ALTER TABLE kinds ADD COLUMN mr int4multirange DEFAULT '{[1,3), [5,9)}';";
    }
    @Override
    int workers() {
        return 4;
    }
}

package io.pgmigrate.core.it;

import io.pgmigrate.Engine;
import io.pgmigrate.testkit.PostgresPair;

/** The restart proofs of {@link RestartIT} with the STREAM engine, whose stream runs in the process that starts it. */
@PostgresPair(source = 14, target = 18)
class RestartStreamIT extends RestartIT {

    @Override
    Engine engine() {
        return Engine.STREAM;
    }
}

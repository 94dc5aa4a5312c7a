package io.pgmigrate.core.it;

import io.pgmigrate.Engine;
import io.pgmigrate.testkit.PostgresPair;

/** The odd-name proofs of {@link OddNamesIT} with the STREAM engine, which names its own statements and origins. */
@PostgresPair(source = 14, target = 18)
class OddNamesStreamIT extends OddNamesIT {

    @Override
    Engine engine() {
        return Engine.STREAM;
    }
}

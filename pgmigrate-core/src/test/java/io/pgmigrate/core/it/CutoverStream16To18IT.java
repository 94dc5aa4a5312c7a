package io.pgmigrate.core.it;

import io.pgmigrate.Engine;
import io.pgmigrate.testkit.PostgresPair;

/** The cutover proofs with the STREAM engine from PostgreSQL 16 to 18: the reverse stream asks for origin none. */
@PostgresPair(source = 16, target = 18)
class CutoverStream16To18IT extends CutoverContract {

    @Override
    Engine engine() {
        return Engine.STREAM;
    }
}

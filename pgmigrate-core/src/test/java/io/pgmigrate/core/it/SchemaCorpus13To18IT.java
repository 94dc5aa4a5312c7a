package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** The schema corpus copied from PostgreSQL 13 to 18. */
@PostgresPair(source = 13, target = 18)
class SchemaCorpus13To18IT extends SchemaCorpusContract {
}

# The apis fixtures (tiny config, seeded checkpoint, generated scene) serve the CLI tests too.
from tests.apis.conftest import scene, scene_file, tiny_checkpoint, tiny_config  # noqa: F401

"""Project scripts: the reference build and the generated pages of the documentation site."""

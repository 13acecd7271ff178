"""Test machinery shared by the test packages (not part of the product)."""

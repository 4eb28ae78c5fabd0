"""The harness: embedded services, seeding, running and measuring the steps."""

"""Device farms: the job cases, packaged as XCTest, run on a farm's devices through its official SDK.

`devicefarm` drives AWS Device Farm with boto3 (the only farm with an official Python client that can be tested
offline against its real API model; docs/scale.md says why the others are not here).
"""

# AWS Device Farm is served from one region. Kept here, not in `devicefarm`, so the command line can show it
# without importing the farm client.
DEVICE_FARM_REGION = "us-west-2"

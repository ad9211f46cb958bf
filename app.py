"""CDK CLI entry (cdk.json): load the config named by `-c config=PATH` or DIFY_CONFIG, build, synth."""

from dify_on_aws.cli import cdk_app_main

if __name__ == "__main__":
    cdk_app_main()

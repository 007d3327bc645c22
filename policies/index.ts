import { PolicyPack } from "@pulumi/policy";
import { drPolicies } from "./policies";

// Every rule is mandatory unless a team's policy config lowers it (advisory) or turns it off (disabled).
new PolicyPack("drkit-dr", { enforcementLevel: "mandatory", policies: drPolicies });

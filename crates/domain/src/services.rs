//! AWS service names as Cost Explorer shows them, and the CUR product codes they stand for.
//!
//! Cost Explorer's SERVICE dimension names a service for people (`Amazon Simple Storage
//! Service`); the CUR names it by product code (`AmazonS3`), which is what the cost API groups
//! by. Preliminary numbers from Cost Explorer are shown under the product code where one maps,
//! so that they line up with the CUR's once it arrives; an unknown name is kept as it is.

/// Cost Explorer service names and their product codes. EC2's costs are split in Cost
/// Explorer (instances under `- Compute`, volumes, NAT gateways and addresses under
/// `EC2 - Other`) and are one product code in the CUR.
const CE_SERVICE_CODES: &[(&str, &str)] = &[
    ("Amazon Elastic Compute Cloud - Compute", "AmazonEC2"),
    ("EC2 - Other", "AmazonEC2"),
    ("Amazon Simple Storage Service", "AmazonS3"),
    ("Amazon Relational Database Service", "AmazonRDS"),
    ("AWS Lambda", "AWSLambda"),
    ("Amazon DynamoDB", "AmazonDynamoDB"),
    ("Amazon CloudFront", "AmazonCloudFront"),
    ("Amazon Virtual Private Cloud", "AmazonVPC"),
    ("Amazon Elastic Load Balancing", "AWSELB"),
    ("Elastic Load Balancing", "AWSELB"),
    (
        "Amazon Elastic Container Service for Kubernetes",
        "AmazonEKS",
    ),
    ("Amazon Elastic Kubernetes Service", "AmazonEKS"),
    ("Amazon Elastic Container Service", "AmazonECS"),
    ("Amazon EC2 Container Registry (ECR)", "AmazonECR"),
    ("Amazon Elastic File System", "AmazonEFS"),
    ("Amazon ElastiCache", "AmazonElastiCache"),
    ("Amazon Route 53", "AmazonRoute53"),
    ("AmazonCloudWatch", "AmazonCloudWatch"),
    ("Amazon CloudWatch", "AmazonCloudWatch"),
    ("AWS Key Management Service", "awskms"),
    ("AWS Secrets Manager", "AWSSecretsManager"),
    ("Amazon Simple Notification Service", "AmazonSNS"),
    ("Amazon Simple Queue Service", "AWSQueueService"),
    ("AWS CloudTrail", "AWSCloudTrail"),
    ("AWS Config", "AWSConfig"),
    ("Amazon Redshift", "AmazonRedshift"),
    ("Amazon OpenSearch Service", "AmazonES"),
    ("Amazon Kinesis", "AmazonKinesis"),
    ("Amazon Athena", "AmazonAthena"),
    ("AWS Glue", "AWSGlue"),
    ("Amazon SageMaker", "AmazonSageMaker"),
    ("Amazon API Gateway", "AmazonApiGateway"),
    ("AWS Step Functions", "AWSStepFunctions"),
    ("AWS Backup", "AWSBackup"),
    ("Amazon GuardDuty", "AmazonGuardDuty"),
    ("AWS WAF", "awswaf"),
    ("AWS Cost Explorer", "AWSCostExplorer"),
    ("Tax", "Tax"),
];

/// The CUR product code of a Cost Explorer service name, or the name itself when none is known.
pub fn product_code_of_ce_service(name: &str) -> &str {
    CE_SERVICE_CODES
        .iter()
        .find(|(ce, _)| *ce == name)
        .map_or(name, |(_, code)| code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_map_to_product_codes_and_others_stay() {
        assert_eq!(
            product_code_of_ce_service("Amazon Elastic Compute Cloud - Compute"),
            "AmazonEC2"
        );
        assert_eq!(product_code_of_ce_service("EC2 - Other"), "AmazonEC2");
        assert_eq!(
            product_code_of_ce_service("Amazon Simple Storage Service"),
            "AmazonS3"
        );
        assert_eq!(
            product_code_of_ce_service("Some New Service"),
            "Some New Service"
        );
    }

    #[test]
    fn each_name_is_listed_once() {
        let mut names: Vec<&str> = CE_SERVICE_CODES.iter().map(|(n, _)| *n).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
